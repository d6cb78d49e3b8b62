using System.Data.Common;
using Certgate.Ca;
using Certgate.Ca.Layout;
using Certgate.Ca.Postgres;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;
using Certgate.Ca.Storage;
using Certgate.Cli.Commands;

namespace Certgate.Cli.Ca;

/// <summary>
/// One <c>certgate ca …</c> command's view of a CA directory: the loaded material, the opened store (the settings'
/// database, or <c>--db</c>) and the <see cref="CertificateAuthority"/> over them. Library exceptions become one-line
/// <see cref="UserException"/>s naming the option or file.
/// </summary>
internal sealed class CaSession : IAsyncDisposable
{
    private CaSession(CaMaterial material, ICaStore store, CertificateAuthority ca)
    {
        Material = material;
        Store = store;
        Ca = ca;
    }

    public CaMaterial Material { get; }

    public ICaStore Store { get; }

    public CertificateAuthority Ca { get; }

    /// <summary>Who the audit log names for commands run from this shell.</summary>
    public static string Actor => "cli:" + Environment.UserName;

    /// <summary>The store factory with every backend the executable ships.</summary>
    public static CaStoreFactory StoreFactory { get; } = new(new SqliteCaStoreProvider(), new PostgresCaStoreProvider());

    /// <summary>Loads <paramref name="dir"/>, opens the store, runs <paramref name="body"/>, closes the store.</summary>
    /// <exception cref="UserException">The directory is not a CA, the database cannot be opened, or the body refused.</exception>
    public static int Run(Arguments args, CaDir dir, string? db, Func<CaSession, Task<int>> body) =>
        Sync(async () =>
        {
            await using CaSession s = await OpenAsync(args, dir, db).ConfigureAwait(false);
            try
            {
                return await body(s).ConfigureAwait(false);
            }
            catch (CaOperationException e)
            {
                throw new UserException($"{args.Command}: {e.Message}", e);
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                // e.g. the CA key cannot sign; the message names no key material.
                throw new UserException($"{args.Command}: cryptographic failure with the CA in {s.Material.Path}: {e.Message}", e);
            }
        });

    /// <summary>Opens the session (the caller disposes it).</summary>
    public static async Task<CaSession> OpenAsync(Arguments args, CaDir dir, string? db)
    {
        CaMaterial material = Load(args, dir);
        string spec = db ?? CaDirectory.ResolveDatabase(material.Path, material.Settings);
        ICaStore store;
        try
        {
            store = await StoreFactory.OpenAsync(spec, material.Path).ConfigureAwait(false);
        }
        catch (ArgumentException) when (db is not null)
        {
            throw new UserException($"{args.Command}: --db '{Redact(db)}': expected sqlite:PATH or postgres:CONNSTRING", 2);
        }
        catch (ArgumentException)
        {
            throw new UserException($"{args.Command}: {Path.Combine(material.Path, CaSettingsFile.FileName)}: database '{Redact(spec)}': expected sqlite:PATH or postgres:CONNSTRING");
        }
        catch (Exception e) when (e is DbException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new UserException($"{args.Command}: cannot open the database {Redact(spec)}: {e.Message}", e);
        }
        try
        {
            return new CaSession(material, store, new CertificateAuthority(material.Settings, material.Certificate, store, null, material.RaCertificate));
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Loads the CA directory, with messages that say what to run when it is not one.</summary>
    /// <remarks>An encrypted key is opened with the passphrase from <c>--key-passphrase-file</c> or the systemd
    /// credential (<see cref="CaKeyPassphrase"/>).</remarks>
    public static CaMaterial Load(Arguments args, CaDir dir)
    {
        if (!Directory.Exists(dir))
        {
            throw new UserException($"{args.Command}: --dir '{dir}': no such directory (create a CA with: certgate ca init --dir {dir} --subject DN)");
        }
        if (!File.Exists(Path.Combine(dir, CaSettingsFile.FileName)))
        {
            throw new UserException($"{args.Command}: --dir '{dir}': not a CA directory (no {CaSettingsFile.FileName}; create one with: certgate ca init --dir {dir} --subject DN)");
        }
        char[]? passphrase = CaKeyPassphrase.Read(args, dir.PassphraseFile, useCredential: true, out string source);
        try
        {
            return CaDirectory.Load(dir, passphrase);
        }
        catch (Exception e) when (e is CaOperationException or CaSettingsException)
        {
            throw new UserException($"{args.Command}: {e.Message}", e);
        }
        catch (CaKeyPassphraseException e)
        {
            throw PassphraseError(args, e, source);
        }
        finally
        {
            if (passphrase is not null)
            {
                Array.Clear(passphrase);
            }
        }
    }

    /// <summary>The one line for a key that cannot be opened: how to give the passphrase, or that the one given
    /// (named by where it came from, never echoed) is wrong.</summary>
    public static UserException PassphraseError(Arguments args, CaKeyPassphraseException e, string source) =>
        e.Missing
            ? new UserException($"{args.Command}: {e.KeyPath} is encrypted: {CaKeyPassphrase.HowToGive}")
            : new UserException($"{args.Command}: {e.KeyPath}: wrong key passphrase (read from {source})");

    /// <summary>A storage specification fit for a message: a PostgreSQL connection string may hold a password.</summary>
    public static string Redact(string spec) =>
        spec.StartsWith("postgres", StringComparison.Ordinal) ? "postgres:…" : spec;

    /// <summary>Runs async command code from the synchronous command table without a synchronization context.</summary>
    public static T Sync<T>(Func<Task<T>> body) => Task.Run(body).GetAwaiter().GetResult();

    public ValueTask DisposeAsync() => Store.DisposeAsync();
}
