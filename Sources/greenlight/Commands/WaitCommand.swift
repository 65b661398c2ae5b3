import ArgumentParser
import Foundation
import GreenlightAPI
import GreenlightClient
import GreenlightCore

struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Block until a gate is decided; the exit code says how.",
        discussion: """
            Keeps waiting across server restarts and network errors, reconnecting with backoff, until the gate is
            decided or --max-wait ends. Exit codes: 0 approved, 1 rejected, 2 timed out (or --max-wait ended),
            3 cancelled, 64 unknown gate, 69 server unreachable, 77 not authorized.
            """
    )

    @OptionGroup var server: ServerOptions
    @Argument(help: "The gate's id (g_…).") var gateID: String
    @Option(help: ArgumentHelp("Give up after this long (90s, 30m, 4h; at most 365d) and exit 2.", valueName: "duration")) var maxWait: MaxWait?
    @Flag(help: "Print the gate as JSON instead of a summary.") var json = false

    func run() async throws {
        try await Self.block(on: gateID, client: try server.client(), maxWait: maxWait, json: json, first: nil)
    }

    static func block(on id: String, client: GreenlightClient, maxWait: MaxWait?, json: Bool, first: GateResource?) async throws {
        if let first {
            if !first.state.isDecided { printError("waiting for gate \(first.id): needs \(GateOutput.needs(first)) — \(first.url)") }
        } else {
            printError("waiting for gate \(id) at \(client.server)")
        }
        let gate: GateResource
        do {
            gate = try await client.waitForDecision(id, maxWait: maxWait?.duration) { error, delay in
                printError("\(error.description); reconnecting in \(String(format: "%.1f", delay))s")
            }
        } catch {
            throw Exit.fail(error, server: client.server)
        }
        print(json ? GateOutput.json(gate) : GateOutput.decision(gate))
        if !gate.state.isDecided {
            printError("gave up waiting after --max-wait; the gate is still pending")
        }
        throw Exit.code(for: gate)
    }
}
