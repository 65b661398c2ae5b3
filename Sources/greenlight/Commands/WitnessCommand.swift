import ArgumentParser
import Foundation
import GreenlightTransparency
import GreenlightWitness
import Hummingbird
import Logging

/// `greenlight witness`: a C2SP tlog-witness for a deployment that has none.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Run a transparency-log witness (C2SP tlog-witness) for Greenlight's audit log.",
        discussion: """
            A witness cosigns each checkpoint of the log only if it extends the last one it cosigned, by a \
            consistency proof: a log rewound or rewritten (a database edited, an old backup restored) is refused with \
            409 or 422, which the Greenlight server reports as a fork alarm. Run it where the log's operator cannot \
            write: another machine, another team. Its key is made on first start (mode 0600) and its verifier key \
            printed; give that to the server in a witness policy (serve --witness-policy), with this witness's URL.
            """
    )

    @Option(
        name: .customLong("log"),
        help: ArgumentHelp("The verifier key of a log to witness (repeat for several): what the server prints at start.", valueName: "vkey"))
    var logs: [String] = []

    @Option(help: ArgumentHelp("The witness's key file, made (mode 0600) if there is none.", valueName: "path"))
    var keyFile = "greenlight-witness.key"

    @Option(help: ArgumentHelp("The witness's name, for a key made now: a schema-less URL such as witness.example.com/w1.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("The file that keeps the last checkpoint cosigned for each log.", valueName: "path"))
    var state = "greenlight-witness.state"

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free one.")
    var port = 8090

    func validate() throws {
        guard !logs.isEmpty else { throw ValidationError("give at least one --log: the verifier key of a log to witness") }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
    }

    func run() async throws {
        let verifiers = try logs.map { text in
            do {
                let key = try NoteVerifierKey(text)
                guard key.type == .ed25519 else { throw ValidationError("--log \(key.name): a log's key has type 0x01, not a witness's") }
                return key
            } catch let error as NoteError {
                throw ValidationError("--log: \(error.description)")
            }
        }
        let key = try SigningKeyOptions.load(keyFile: keyFile, origin: name ?? "\(ProcessInfo.processInfo.hostName)/witness", type: .cosignatureV1)
        let witness: Witness
        do {
            witness = try Witness(key: key, logs: verifiers, statePath: state)
        } catch {
            throw Exit.fail("\(error)")
        }
        let app = Application(
            router: WitnessServer.router(witness),
            configuration: .init(address: .hostname(host, port: port), serverName: "greenlight-witness"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? port
                FileHandle.standardOutput.write(
                    Data("witness \(key.verifier.name) listening on http://\(host):\(port)\n  verifier key \(key.verifier)\n".utf8))
            },
            logger: Logger(label: "greenlight-witness")
        )
        try await app.runService()
    }
}
