import ArgumentParser
import Foundation
import GreenlightCore
import GreenlightSQLite
import GreenlightStore

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Issue tokens straight into the store.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it once; only its SHA-256 is stored.",
            discussion: """
                pipeline: opens, reads and cancels gates (narrow it with --services and --environments).
                approver: reads gates and votes as --user (a person of the policy).
                auditor:  reads the audit log.
                """
        )

        @Option(help: "A name for the token, unique (shown in the audit log).") var name: String
        @Option(help: "pipeline, approver or auditor.") var kind: TokenKind
        @Option(help: "For an approver token: the person it votes as.") var user: String?
        @Option(help: "For a pipeline token: the services it may open gates for, comma-separated (default: any).") var services: String?
        @Option(help: "For a pipeline token: the environments it may open gates for, comma-separated (default: any).") var environments: String?
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            if name.isEmpty || name.count > 100 || name.contains(where: \.isWhitespace) {
                throw ValidationError("--name must be 1 to 100 characters without spaces")
            }
            switch kind {
            case .approver where user?.isEmpty ?? true:
                throw ValidationError("an approver token needs --user PERSON: the person it votes as")
            case .pipeline where user != nil, .auditor where user != nil:
                throw ValidationError("--user is only for approver tokens")
            case .approver where services != nil || environments != nil, .auditor where services != nil || environments != nil:
                throw ValidationError("--services and --environments narrow pipeline tokens only")
            default: break
            }
            if let user, case .failure(let problem) = Identity.normalized(user) {
                throw ValidationError("--user '\(user.debugEscaped)' \(problem)")
            }
        }

        func run() async throws {
            let location = try database.location()
            if !location.exists { printError("note: no database at \(location) yet; creating it (the server must use the same --database)") }
            let store = try await location.openStore()
            let secret = TokenSecret.generate()
            // The person in the form separation of duties matches (validate() refused what cannot be normalised).
            let user = user.flatMap { try? Identity.normalized($0).get() }
            let token = AccessToken(name: name, kind: kind, user: user, services: list(services), environments: list(environments), createdAt: Date())
            do {
                try await store.whileRunning { try await store.createToken(token, secretHash: TokenSecret.hash(secret)) }
            } catch let error as StoreError {
                throw Exit.fail(error.description)
            }
            print(secret)
            printError("created \(kind.rawValue) token '\(name)'\(user.map { " for \($0)" } ?? ""); it is shown only this once")
            if kind == .pipeline, token.services.isEmpty || token.environments.isEmpty {
                printError(
                    "note: this pipeline token may open gates for any \(token.services.isEmpty ? "service" : "environment"); narrow it with --services/--environments"
                )
            }
        }

        private func list(_ text: String?) -> [String] {
            (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }
}

extension TokenKind: ExpressibleByArgument {}
