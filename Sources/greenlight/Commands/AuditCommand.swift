import ArgumentParser
import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify and read the audit log, straight from the store.",
        subcommands: [Verify.self, Query.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every link of the audit chain. Exits 0 when intact; 1 naming the first bad event otherwise."
        )

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let store = try await database.openExistingStore()
            let verdict = try await store.whileRunning { try await store.verifyAudit() }
            if verdict.isIntact {
                print(verdict.description)
            } else {
                printError(verdict.description)
                throw ExitCode(1)
            }
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print audit events as JSON lines, oldest first."
        )

        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this service.") var service: String?
        @Option(name: [.customLong("env"), .customLong("environment")], help: "Only this environment.") var environment: String?
        @Option(help: "Only this actor (a person, or pipeline:NAME).") var actor: String?
        @Option(help: "Only this gate.") var gate: String?
        @Option(help: "Only this action (gate.opened, vote.recorded, vote.refused, gate.decided, …).") var action: String?
        @Option(help: "From this time (RFC 3339).") var since: String?
        @Option(help: "Before this time (RFC 3339).") var until: String?
        @Option(help: "At most this many events.") var limit = 10_000
        @Flag(help: "Only break-glass uses (gate.break_glass), for the post-incident review. Same as --action gate.break_glass.")
        var breakGlass = false

        func validate() throws {
            if breakGlass, let action, action != AuditAction.breakGlass.rawValue {
                throw ValidationError("--break-glass and --action \(action) ask for different events; use one")
            }
        }

        func run() async throws {
            func date(_ text: String?, _ flag: String) throws -> Date? {
                guard let text else { return nil }
                guard let date = Timestamp.parse(text) else { throw ValidationError("--\(flag) must be RFC 3339, like 2026-11-22T14:32:00Z") }
                return date
            }
            let store = try await database.openExistingStore()
            let query = AuditQuery(
                service: service, environment: environment, actor: actor, gateID: gate, action: breakGlass ? AuditAction.breakGlass.rawValue : action,
                since: try date(since, "since"), until: try date(until, "until"), limit: limit
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = Timestamp.jsonEncodingStrategy
            for event in try await store.whileRunning({ try await store.auditEvents(query) }) {
                print(String(decoding: try encoder.encode(event), as: UTF8.self))
            }
        }
    }
}
