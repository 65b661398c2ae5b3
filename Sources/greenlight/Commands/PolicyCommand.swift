import ArgumentParser
import Foundation
import GreenlightCore
import GreenlightPolicyFile
import GreenlightServer

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check a policy file, explain what it asks of a deploy, or run its tests.",
        subcommands: [Check.self, Explain.self, Test.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Validate a policy file. Exits 0 when it can be used; prints its errors as file:line (the first 50, then how many more) and exits 64 otherwise.",
            discussion: "Warnings (printed, exit 0) flag what is legal but rarely meant, such as a production-like environment that fails open."
        )

        @Argument(help: "The policy file.") var file = "greenlight.yaml"

        func run() async throws {
            let (policy, warnings) = try PolicyFile.parse(file)
            for warning in warnings { printError(warning.description) }
            print(
                "\(file): ok (\(policy.environments.count) environment(s), \(policy.tiers.count) tier(s), \(policy.groups.count) group(s); sha256 \(policy.hash))"
            )
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say which tier and rule a deploy would meet, who may approve it in which stage, by when, and the freeze windows."
        )

        @Option(help: ArgumentHelp("The policy file (default: the built-in policy).", valueName: "file")) var config: String?
        @Option(help: "The service.") var service: String
        @Option(name: [.customLong("env"), .customLong("environment")], help: "The environment.") var environment: String
        @Option(name: .customLong("author"), help: "An author of the change (repeatable).") var authors: [String] = []
        @Option(help: "Who triggers the deploy.") var triggeredBy: String?
        @Option(name: .customLong("path"), help: "A changed path (repeatable), for tiers that match changed_paths.") var paths: [String] = []
        @Option(help: "The change in monthly cost, for tiers that match cost_delta_monthly.") var cost: Double?
        @Option(name: .customLong("label"), help: "A label as key=value (repeatable).") var labels: [String] = []
        @Option(help: "When the deploy would happen (RFC 3339; default: now), for freeze windows.") var at: String?

        func validate() throws {
            for label in labels where !label.contains("=") { throw ValidationError("--label must be key=value, not '\(label)'") }
            if let at, Timestamp.parse(at) == nil { throw ValidationError("--at must be RFC 3339, like 2026-12-04T15:00:00-05:00") }
        }

        func run() async throws {
            let policy = try PolicyFile.load(config)
            var request = GateRequest(
                service: service, environment: environment, artifact: "-", commit: "0000000", triggeredBy: triggeredBy, authors: authors)
            request.changedPaths = paths
            request.costDeltaMonthly = cost
            request.labels = labelValues(labels)
            let now = at.flatMap(Timestamp.parse) ?? Date()
            let plan = policy.plan(for: request, at: now)
            let unnamed = plan.rule == "default" ? " (the policy does not name '\(environment)')" : ""
            print("\(service) → \(environment): tier \(plan.tier), rule \(plan.rule)\(unnamed)")
            if let frozen = plan.frozen {
                print(
                    "  FROZEN by '\(frozen.name)' until \(Timestamp.format(frozen.endsAt)): a gate opened now is rejected at once (frozen:\(frozen.name))"
                )
            }
            if plan.gated {
                explainApprovals(plan, request: request, now: now)
            } else {
                print("  no approval needed (gate: none): the request is recorded and passes")
            }
            explainFreezes(policy, now: now)
            if let breakGlass = plan.breakGlass {
                print(
                    "  break-glass: members of \(breakGlass.groups.joined(separator: ", ")) (\(breakGlass.eligible.joined(separator: ", "))), "
                        + "with a reason, at most \(breakGlass.maxPerDay) per 24 hours")
            } else {
                print("  break-glass: not allowed here")
            }
            print("  policy: \(policy.source) (sha256 \(policy.hash))")
        }

        private func explainApprovals(_ plan: GatePlan, request: GateRequest, now: Date) {
            for (index, stage) in plan.stages.enumerated() {
                let prefix: String
                if plan.stages.count > 1 {
                    let after = index == 0 ? "asked first" : "asked once stage \(index) is met"
                    let timeout = stage.timeout.map { ", open at most \($0)" } ?? ""
                    print("  stage \(index + 1) of \(plan.stages.count) '\(stage.name)' (\(after)\(timeout)):")
                    prefix = "    "
                } else {
                    prefix = "  "
                }
                for requirement in stage.requirements {
                    let eligible = requirement.eligible.filter { plan.exclusion(for: $0) == nil }
                    print(
                        "\(prefix)needs \(requirement.count) approval(s) from group \(requirement.group): \(eligible.isEmpty ? "nobody eligible" : eligible.joined(separator: ", "))"
                    )
                }
            }
            for exclusion in plan.exclusions {
                print("  may not decide: \(exclusion.identity) (\(exclusion.role.rawValue), separation of duties)")
            }
            // The gate as if opened now outside any freeze, for its deadline and timers.
            var unfrozen = plan
            unfrozen.frozen = nil
            let opened = Gate(id: .generate(), request: request, openedBy: "explain", plan: unfrozen, createdAt: now)
            let deadline = now.addingTimeInterval(plan.timeout.seconds)
            let then = plan.onTimeout == .reject ? "reject" : "approve (fail-open: \(plan.failOpenReason ?? "no reason given"))"
            print(
                "  deadline: \(plan.timeout) after the request (if opened at \(Timestamp.format(now)): \(Timestamp.format(deadline))), then \(then)")
            // A first stage with its own, shorter timeout decides the gate sooner.
            if let first = plan.stages.first, let timeout = first.timeout, let sooner = opened.deadline, sooner < deadline {
                print("  stage '\(first.name)' must be met within \(timeout) (\(Timestamp.format(sooner))), then \(then)")
            }
            if let reminder = opened.nextReminderAt {
                print("  reminder: \(plan.reminder?.beforeDeadline.description ?? "") before the deadline (\(Timestamp.format(reminder)))")
            }
            if let escalation = opened.escalatesAt {
                print("  escalation: to \((plan.escalation?.to ?? []).joined(separator: ", ")) at \(Timestamp.format(escalation))")
            }
            print("  one authorized reject rejects; each person's approval counts once")
        }

        private func explainFreezes(_ policy: Policy, now: Date) {
            let windows = policy.freezeWindows(for: environment)
            guard !windows.isEmpty else {
                print("  freeze windows: none")
                return
            }
            print("  freeze windows:")
            for window in windows {
                let active = window.occurrence(containing: now).map { "ACTIVE until \(Timestamp.format($0.end))" }
                let next = window.nextOccurrence(after: now).map { "next \(Timestamp.format($0.start)) → \(Timestamp.format($0.end))" }
                print("    \(window.name): \([active, next].compactMap { $0 }.joined(separator: "; ").nilIfEmpty ?? "no occurrence ahead")")
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the policy's tests: every *.test.yaml beside it. Prints a line per case; exits 1 if any fails.",
            discussion: """
                Each test file holds 'cases:', each with a 'name', a request under 'given' (service, environment, \
                changed_paths, cost_delta_monthly, labels, author(s), triggered_by, at) and what the policy must say under \
                'expect' (tier, rule, gated, stages, may_approve, may_not_approve, frozen, timeout, on_timeout). \
                See examples/ for a policy with its tests.
                """
        )

        @Argument(help: "The directory holding the policy and its *.test.yaml files.") var directory = "."
        @Option(help: ArgumentHelp("The policy file (default: greenlight.yaml in the directory).", valueName: "file")) var config: String?

        func run() async throws {
            let policyPath = config ?? (directory as NSString).appendingPathComponent("greenlight.yaml")
            let (policy, _) = try PolicyFile.parse(policyPath)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".test.yaml") }.sorted()
            } catch {
                throw Exit.fail("cannot read the directory \(directory): \(error.localizedDescription)")
            }
            guard !names.isEmpty else { throw Exit.fail("no *.test.yaml files in \(directory); write one (see examples/)") }
            var passed = 0
            var failed = 0
            for name in names {
                let path = (directory as NSString).appendingPathComponent(name)
                let suite: PolicyTestSuite
                do {
                    suite = try PolicyTestSuite(parsing: try PolicyFileReader.contents(of: path), file: path)
                } catch let error as PolicyFileError {
                    throw Exit.fail(error.description)
                } catch let error as PolicyValidationError {
                    for diagnostic in error.diagnostics { printError(diagnostic.description) }
                    throw Exit.usage
                }
                for result in suite.run(against: policy) {
                    if result.passed {
                        passed += 1
                        print("ok    \(result.name)")
                    } else {
                        failed += 1
                        print("FAIL  \(result.name) (\(result.place))")
                        for failure in result.failures { print("        \(failure)") }
                    }
                }
            }
            print("\(passed + failed) case(s): \(passed) passed, \(failed) failed (policy \(policyPath), sha256 \(policy.hash.prefix(12)))")
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
