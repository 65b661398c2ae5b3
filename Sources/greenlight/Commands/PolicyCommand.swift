import ArgumentParser
import Foundation
import GreenlightCore

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check a policy file, or explain what it asks of a deploy.",
        subcommands: [Check.self, Explain.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file. Exits 0 when it can be used; prints each error as file:line and exits 64 otherwise."
        )

        @Argument(help: "The policy file.") var file = "greenlight.yaml"

        func run() async throws {
            let (policy, warnings) = try PolicyFile.parse(file)
            for warning in warnings { printError(warning.description) }
            print("\(file): ok (\(policy.environments.count) environment(s), \(policy.groups.count) group(s); sha256 \(policy.hash))")
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say which rule a deploy would meet, who may approve it, how many, and by when."
        )

        @Option(help: ArgumentHelp("The policy file (default: the built-in policy).", valueName: "file")) var config: String?
        @Option(help: "The service.") var service: String
        @Option(name: [.customLong("env"), .customLong("environment")], help: "The environment.") var environment: String
        @Option(name: .customLong("author"), help: "An author of the change (repeatable).") var authors: [String] = []
        @Option(help: "Who triggers the deploy.") var triggeredBy: String?

        func run() async throws {
            let policy = try PolicyFile.load(config)
            let request = GateRequest(
                service: service, environment: environment, artifact: "-", commit: "0000000", triggeredBy: triggeredBy, authors: authors)
            let plan = policy.plan(for: request)
            print("\(service) → \(environment): \(plan.rule)\(plan.rule == "default" ? " (the policy does not name '\(environment)')" : "")")
            guard plan.gated else {
                print("  no approval needed (gate: none): the request is recorded and passes")
                return
            }
            for requirement in plan.requirements {
                let eligible = requirement.eligible.filter { plan.exclusion(for: $0) == nil }
                print(
                    "  needs \(requirement.count) approval(s) from group \(requirement.group): \(eligible.isEmpty ? "nobody eligible" : eligible.joined(separator: ", "))"
                )
            }
            for exclusion in plan.exclusions {
                print("  may not decide: \(exclusion.identity) (\(exclusion.role.rawValue), separation of duties)")
            }
            let deadline = Date().addingTimeInterval(plan.timeout.seconds)
            print(
                "  deadline: \(plan.timeout) after the request (if opened now: \(Timestamp.format(deadline))), then \(plan.onTimeout == .reject ? "reject" : "approve (fail-open)")"
            )
            print("  one authorized reject rejects; each person's approval counts once")
            print("  policy: \(policy.source) (sha256 \(policy.hash))")
        }
    }
}
