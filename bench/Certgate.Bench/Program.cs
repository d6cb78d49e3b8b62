// Benchmarks and side-by-side harnesses. Each harness is chosen by its first argument; see bench/README.md.
using Certgate.Bench.Bounds;
using Certgate.Bench.Crl;
using Certgate.Bench.Esp;
using Certgate.Bench.Ike;
using Certgate.Bench.Scep;

return args.Length == 0 ? Usage() : args[0] switch
{
    "crl" => CrlHarness.Run(args[1..]),
    "scep" => ScepHarness.Run(args[1..]),
    "esp" => EspPathHarness.Run(args[1..]),
    "ike-setups" => IkeSetupHarness.Run(args[1..]).GetAwaiter().GetResult(),
    "ca-crl" => CaCrlHarness.Run(args[1..]),
    "ca-abuse" => CaAbuseHarness.Run(args[1..]),
    "input-bounds" => InputBoundsHarness.Run(args[1..]),
    CrlHarness.LoadPhaseCommand => CrlHarness.RunLoadPhase(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/Certgate.Bench -- <harness> [options]");
    Console.Error.WriteLine("harnesses:");
    Console.Error.WriteLine("  crl [--entries N]   write an N-entry CRL (default 1,000,000), then time our load/verify/lookups against openssl crl");
    Console.Error.WriteLine("  ca-crl [--entries N] [--clients 1,8,32] [--seconds S]   our CA: build an N-entry CRL (default 1,000,000) and serve it (ca serve)");
    Console.Error.WriteLine("  ca-abuse [--enrollments N] [--bad N]   ca serve under a flood: 8 good clients enroll (N each) while 32 bad clients send >= N bad PKIOperations (default 10,000)");
    Console.Error.WriteLine("  scep [--enrollments N]   SCEP enrollments/s with 1, 8, 32 clients: our CA vs micromdm scepserver (root: namespace)");
    Console.Error.WriteLine("  ike-setups [--setups N]   sequential IKE_SA + CHILD_SA setups between two Certgate endpoints on loopback");
    Console.Error.WriteLine("  ike-setups --role initiator|responder --local IP [--remote IP] --cert PEM --key PEM --ca PEM [--setups N]   one end, own process (bench/ike-setups.sh: two namespaces, beside strongSwan)");
    Console.Error.WriteLine("  input-bounds   the time bounds once in unit tests: CRL write/load at 10,000 and 100,000 entries (linear, < 3 s), a 100 MB input file refused from its size (< 1 s)");
    Console.Error.WriteLine("  esp [--seconds N]   the ESP packet path (Protect + Unprotect) on one core: packets/s, Gbit/s, allocation per packet");
    return 2;
}
