import ArgumentParser

@main
struct Greenlight: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenlight",
        abstract: "A deployment approval gate: pipelines ask, people decide, the evidence is kept.",
        discussion: """
            Run the server with 'greenlight serve'. Pipelines open gates with 'greenlight request' and wait for them;
            people decide with 'greenlight approve' and 'greenlight reject'. Every step is in a tamper-evident audit
            log ('greenlight audit verify').

            Exit codes of 'request --wait' and 'wait': 0 approved, 1 rejected, 2 timed out, 3 cancelled,
            64 usage or bad input, 69 server unreachable, 77 not authorized.
            """,
        subcommands: [
            Serve.self, RequestCommand.self, WaitCommand.self, ApproveCommand.self, RejectCommand.self, CancelCommand.self,
            BreakGlassCommand.self,
            TokenCommand.self, PolicyCommand.self, AuditCommand.self, MigrateCommand.self, AttestCommand.self, WitnessCommand.self,
        ]
    )
}
