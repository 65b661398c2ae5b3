import ArgumentParser
import Foundation
import GreenlightAudit
import GreenlightClient
import GreenlightTransparency

/// `greenlight attest`: approvals as signed in-toto attestations, for deploy steps and admission controllers.
struct AttestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Fetch and verify an approved gate's signed attestation (DSSE, in-toto Deployment predicate).",
        subcommands: [Fetch.self, Verify.self]
    )

    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch an approved gate's attestation (a DSSE envelope, JSON).",
            discussion: """
                Only an approved gate whose artifact is named by digest (name@sha256:…) has one. Waits up to 30 \
                seconds for a just-approved gate's decision to be in a published checkpoint.
                """
        )

        @Argument(help: "The gate's id (g_…).") var gate: String
        @OptionGroup var server: ServerOptions
        @Option(help: ArgumentHelp("Write to this file (created 0600, not over an existing one) instead of standard output.", valueName: "file"))
        var output: String?

        func run() async throws {
            try await PublishedEvidence.fetch(server, to: output) { client throws(ClientError) in Array(try await client.attestation(gate)) + [0x0A] }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that an attestation allows deploying an artifact to an environment.",
            discussion: """
                Exits 0 only if the envelope's signature is the log's (--key, or GREENLIGHT_VERIFIER_KEY), its subject \
                is the artifact's digest, its environment scope is the one given, the gate was approved, and the \
                decision proof it carries checks against the same key. Otherwise exits 1 naming the check that failed. \
                No server is needed.
                """
        )

        @Option(help: ArgumentHelp("The artifact about to be deployed, by digest: name@sha256:<64 hex digits>.", valueName: "ref"))
        var artifact: String
        @Option(name: [.customLong("environment"), .customLong("env")], help: "The environment it is about to be deployed to.")
        var environment: String
        @Option(help: ArgumentHelp("The attestation file (attest fetch); standard input if not given.", valueName: "file"))
        var attestation: String?
        @Option(help: ArgumentHelp("The log's verifier key, or its file (or GREENLIGHT_VERIFIER_KEY).", valueName: "vkey"))
        var key: String?
        @Option(
            name: .customLong("witness"),
            help: ArgumentHelp(
                "A witness's verifier key that must have cosigned the decision proof's checkpoint; repeat for several.", valueName: "vkey"))
        var witnesses: [String] = []

        func run() async throws {
            guard let keyText = key ?? ProcessInfo.processInfo.environment["GREENLIGHT_VERIFIER_KEY"], !keyText.isEmpty else {
                throw ValidationError("give --key (or GREENLIGHT_VERIFIER_KEY): the log's verifier key, as 'greenlight serve' prints it")
            }
            let verifier = try SignedCheckpoint.verifier(keyText, what: "--key")
            let bytes: Data
            if let attestation {
                bytes = Data(try SignedCheckpoint.text(of: attestation, limit: 4 << 20, what: "--attestation").utf8)
            } else {
                // Read up to the limit and one byte more, never the whole of whatever is piped in.
                var read = Data()
                while read.count <= 4 << 20, let chunk = try FileHandle.standardInput.read(upToCount: (4 << 20) + 1 - read.count), !chunk.isEmpty {
                    read += chunk
                }
                guard read.count <= 4 << 20 else { throw Exit.fail("the attestation on standard input is over 4 MiB") }
                bytes = read
            }
            let keys = try witnesses.map { try SignedCheckpoint.verifier($0, what: "--witness") }
            do throws(AttestationProblem) {
                let verified = try DeploymentAttestation.verify(
                    Array(bytes), key: verifier, artifact: artifact, environment: environment, witnesses: .all(of: keys))
                print(
                    "ok: gate \(verified.gateID) approved \(verified.subject.name)@sha256:\(verified.subject.sha256) for \(verified.environment) (approvers: \(verified.approvers.joined(separator: ", ")))"
                )
            } catch {
                printError("refused: \(error.description)")
                throw ExitCode(1)
            }
        }
    }
}
