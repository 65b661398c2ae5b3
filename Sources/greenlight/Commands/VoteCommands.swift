import ArgumentParser
import GreenlightAPI
import GreenlightClient
import GreenlightCore

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve a gate as the person your approver token belongs to."
    )

    @OptionGroup var server: ServerOptions
    @Argument(help: "The gate's id (g_…).") var gateID: String
    @Option(help: "Why you approve (kept in the audit log).") var comment: String?

    func run() async throws {
        try await castVote(VoteBody(decision: .approve, comment: comment), on: gateID, server: server)
    }
}

struct RejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject a gate as the person your approver token belongs to. One authorized reject decides."
    )

    @OptionGroup var server: ServerOptions
    @Argument(help: "The gate's id (g_…).") var gateID: String
    @Option(help: "Why you reject: the pipeline and the audit log show it.") var comment: String

    func validate() throws {
        if comment.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--comment must say why you reject") }
    }

    func run() async throws {
        try await castVote(VoteBody(decision: .reject, comment: comment), on: gateID, server: server)
    }
}

/// Sends a vote and prints where the gate stands afterwards.
private func castVote(_ body: VoteBody, on id: String, server: ServerOptions) async throws {
    let client = try server.client()
    do {
        let gate = try await client.vote(id, body)
        if gate.state.isDecided {
            print(GateOutput.decision(gate))
        } else {
            print("\(gate.id): vote recorded; still needs \(GateOutput.needs(gate))\n\(gate.url)")
        }
    } catch {
        throw Exit.fail(error, server: client.server)
    }
}

struct BreakGlassCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "break-glass",
        abstract: "Approve a gate now, past its approvals and any freeze, as a break-glass holder. For incidents only.",
        discussion: """
            Only people in the groups the policy's break_glass.allowed names may, with a reason, up to max_per_day times
            per environment in any 24 hours. The decision is marked break_glass, announced in the gate's Slack channel,
            and listed by 'greenlight audit query --break-glass' for the post-incident review. Refused attempts are
            audited too.
            """
    )

    @OptionGroup var server: ServerOptions
    @Argument(help: "The gate's id (g_…).") var gateID: String
    @Option(help: "Why the usual approvals cannot wait (the incident, the ticket): the review reads it.") var reason: String

    func validate() throws {
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why the glass is broken") }
    }

    func run() async throws {
        let client = try server.client()
        do {
            let gate = try await client.breakGlass(gateID, reason: reason)
            if gate.state == .rejected, let frozen = gate.frozen {
                print(
                    """
                    \(gate.id): glass broken for the deploy the freeze '\(frozen.name)' stopped (\(gate.service) → \(gate.environment), \(gate.artifact)).
                    Re-run the pipeline step within the hour: the same service, environment, artifact and commit are approved at once.
                    Listed by 'greenlight audit query --break-glass' for review.
                    """)
            } else {
                print(GateOutput.decision(gate))
            }
        } catch {
            throw Exit.fail(error, server: client.server)
        }
    }
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a pending gate (a superseded run), with the pipeline token that opened it."
    )

    @OptionGroup var server: ServerOptions
    @Argument(help: "The gate's id (g_…).") var gateID: String
    @Option(help: "Why (kept in the audit log).") var reason: String?

    func run() async throws {
        let client = try server.client()
        do {
            print(GateOutput.decision(try await client.cancel(gateID, reason: reason)))
        } catch {
            throw Exit.fail(error, server: client.server)
        }
    }
}
