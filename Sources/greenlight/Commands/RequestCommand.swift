import ArgumentParser
import Foundation
import GreenlightAPI
import GreenlightClient
import GreenlightCore

struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Open a gate for a deploy, and with --wait block until it is decided.",
        discussion: """
            Prints the gate's id (and with --wait, the decision). Run it from the pipeline step before the deploy:

              greenlight request --service shop --env production \\
                --artifact registry.example.com/shop@sha256:… --commit $GIT_SHA \\
                --triggered-by $GITHUB_ACTOR --author alice --wait

            The same --idempotency-key (default: derived from the run URL when given) returns the same gate when the
            step is retried. Exit codes with --wait: 0 approved, 1 rejected, 2 timed out, 3 cancelled, 64 bad input,
            69 server unreachable, 77 not authorized.
            """
    )

    @OptionGroup var server: ServerOptions

    @Option(help: "The service being deployed.") var service: String
    @Option(name: [.customLong("env"), .customLong("environment")], help: "The environment deployed to.") var environment: String
    @Option(help: "The artifact, by digest: image@sha256:….") var artifact: String
    @Option(help: "The commit being deployed (hexadecimal hash).") var commit: String
    @Option(help: "The commit currently deployed, for the change range.") var baseCommit: String?
    @Option(help: "The pull request (URL or number).") var pullRequest: String?
    @Option(help: "The change ticket.") var ticket: String?
    @Option(help: "The pipeline run's URL.") var runURL: String?
    @Option(help: "Who triggered the deploy (barred from approving by separation of duties).") var triggeredBy: String?
    @Option(name: .customLong("author"), help: "An author of the change (repeatable; barred from approving).") var authors: [String] = []
    @Option(help: "A one-line summary of the change.") var summary: String?
    @Option(name: .customLong("changed-path"), help: "A changed file (repeatable).") var changedPaths: [String] = []
    @Option(help: "The change in monthly cost.") var costDeltaMonthly: Double?
    @Option(name: .customLong("label"), help: ArgumentHelp("A label as key=value (repeatable).", valueName: "key=value")) var labels: [String] = []
    @Option(help: "An https URL to call with the decision.") var callbackURL: String?
    @Option(help: "Makes retries return the same gate (default: a new key per run of this command).") var idempotencyKey: String?

    @Flag(help: "Block until the gate is decided; the exit code says how.") var wait = false
    @Option(help: ArgumentHelp("With --wait: give up after this long (90s, 30m, 4h; at most 365d) and exit 2.", valueName: "duration"))
    var maxWait: MaxWait?
    @Flag(help: "Print the gate as JSON instead of a summary.") var json = false

    func validate() throws {
        for label in labels where !label.contains("=") {
            throw ValidationError("--label '\(label)' must be key=value")
        }
    }

    func run() async throws {
        let client = try server.client()
        let request = GateRequest(
            service: service, environment: environment, artifact: artifact, commit: commit, baseCommit: baseCommit,
            pullRequest: pullRequest, ticket: ticket, runURL: runURL, triggeredBy: triggeredBy, authors: authors, summary: summary,
            changedPaths: changedPaths, costDeltaMonthly: costDeltaMonthly, labels: labelValues(labels), callbackURL: callbackURL
        )
        let key = idempotencyKey ?? runURL.map { "run:\($0)" } ?? UUID().uuidString
        let gate: GateResource
        do {
            gate = try await client.open(request, idempotencyKey: key) { error, delay in
                printError("\(error.description); retrying in \(String(format: "%.1f", delay))s")
            }
        } catch {
            throw Exit.fail(error, server: client.server)
        }
        guard wait else {
            print(json ? GateOutput.json(gate) : gate.id)
            if !json {
                printError(gate.state.isDecided ? GateOutput.decision(gate) : "gate \(gate.id) needs \(GateOutput.needs(gate)) — \(gate.url)")
            }
            return
        }
        try await WaitCommand.block(on: gate.id, client: client, maxWait: maxWait, json: json, first: gate)
    }
}
