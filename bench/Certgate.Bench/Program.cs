// Benchmarks and side-by-side harnesses. Each harness is chosen by its first argument; see bench/README.md.
Console.Error.WriteLine("usage: dotnet run -c Release --project bench/Certgate.Bench -- <harness>");
return 2;
