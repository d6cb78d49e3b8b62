// The one-shot IKE calls were IkeSession.InitiateAsync/RespondAsync until IkeSession was dissolved (#13 §3); they are
// Certgate.Ike.Sessions.IkeHandshake's now. `debug ike-tunnel` (Diagnostics/IkeTunnelCommand.cs) still names the old
// class and is being moved onto the gateway's classes on another branch (#13), so this alias keeps it building without
// touching it. Delete this file once Diagnostics no longer says IkeSession.
global using IkeSession = Certgate.Ike.Sessions.IkeHandshake;
