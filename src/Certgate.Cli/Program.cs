using Certgate.Cli;

return CertgateCli.Run(args, Console.In, Console.Out, Console.Error);
