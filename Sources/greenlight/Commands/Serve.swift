import ArgumentParser
import AsyncHTTPClient
import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSQLite
import GreenlightServer
import GreenlightSlack
import GreenlightStore
import GreenlightTransparency
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Greenlight server.",
        discussion: """
            With no options: the SQLite database ./greenlight.db, the built-in policy (every environment needs one \
            approval from the 'admins' group, whose member is the person 'admin'; 4 hours, then reject), and \
            http://127.0.0.1:8080. SIGTERM or Ctrl-C drains in-flight requests and exits 0.

            With --config, the policy file is read again on SIGHUP and whenever it changes: an edit that validates \
            applies to gates opened from then on (open gates keep the rules they opened with); one that does not, or a \
            file that cannot be read, is logged and audited, and the policy in force stays. Without --config, SIGHUP is \
            logged and changes nothing. GET /v1/policy shows the policy in force and its hash.

            Slack: with SLACK_BOT_TOKEN set, each gate whose policy names a 'channel' gets a card there, kept up to date \
            through a durable outbox, with reminders and escalations in its thread (GREENLIGHT_SLACK_API_URL overrides \
            https://slack.com/api/). With SLACK_SIGNING_SECRET too, the card's buttons work: point the Slack app's \
            Interactivity Request URL at <public-url>/slack/interactions. Or, with no public URL, set SLACK_APP_TOKEN \
            (an xapp- token with connections:write) and turn on Socket Mode in the Slack app. Without Slack settings, \
            Greenlight runs exactly the same, with no Slack.
            """
    )

    @Option(help: ArgumentHelp("The policy file (greenlight.yaml). Without it, the built-in policy.", valueName: "file"))
    var config: String?

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free one.")
    var port = 8080

    @Option(help: ArgumentHelp("The URL people use to reach this server, for gate links (default: http://host:port).", valueName: "url"))
    var publicURL: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(
        help: ArgumentHelp(
            "Seconds before an idle connection, or one that has not sent a request's head, is closed (a long-poll is not idle).",
            valueName: "seconds"))
    var idleTimeout = 30

    @Option(help: ArgumentHelp("Seconds a request's body may take to arrive after its head.", valueName: "seconds"))
    var requestTimeout = 30

    @Option(
        help: ArgumentHelp(
            "The most connections open at once; more wait to be accepted (default: 10000, or fewer if the open-file limit is lower).",
            valueName: "count"))
    var maxConnections: Int?

    @Option(
        help: ArgumentHelp(
            "The audit log's signing key file, made (mode 0600) on first start if there is none. Default: greenlight-signing.key beside a SQLite database; with PostgreSQL, give one file to every replica. GREENLIGHT_SIGNING_KEY (the key, or its file) comes first.",
            valueName: "path"))
    var signingKeyFile: String?

    @Option(help: ArgumentHelp("The log's name, for a signing key made now (the checkpoints' origin).", valueName: "name"))
    var logOrigin: String?

    @Option(
        name: .customLong("previous-signing-key-file"),
        help: ArgumentHelp(
            "An earlier key of the log (after 'audit rotate-key'): it also signs every checkpoint and attestation until verifiers and witnesses have the new one. Repeat for several.",
            valueName: "path"))
    var previousSigningKeyFiles: [String] = []

    @Flag(
        help: ArgumentHelp(
            "Keep no transparency log: no signed checkpoints, tiles, proofs or attestations (the hash chain stays). For measuring what the log costs."
        ))
    var noSigning = false

    @Option(
        help: ArgumentHelp(
            "A C2SP tlog-policy file naming the witnesses (each with its URL) that cosign the log's checkpoints, and their quorum.",
            valueName: "file"))
    var witnessPolicy: String?

    @Option(help: ArgumentHelp("A directory to write each published checkpoint to (its file 'checkpoint'), for mirrors.", valueName: "path"))
    var checkpointDirectory: String?

    @Option(help: ArgumentHelp("A URL each published checkpoint is POSTed to, as JSON (origin, size, root, checkpoint).", valueName: "url"))
    var checkpointWebhook: String?

    @Option(
        help: ArgumentHelp(
            "A Slack channel ID to post a published checkpoint to, at most once per --checkpoint-slack-interval (needs SLACK_BOT_TOKEN).",
            valueName: "channel"))
    var checkpointSlackChannel: String?

    @Option(help: ArgumentHelp("Seconds between checkpoints posted to Slack.", valueName: "seconds"))
    var checkpointSlackInterval = 3_600

    func validate() throws {
        guard (1...3_600).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be from 1 to 3600 seconds") }
        guard (1...3_600).contains(requestTimeout) else { throw ValidationError("--request-timeout must be from 1 to 3600 seconds") }
        guard (1...86_400 * 7).contains(checkpointSlackInterval) else {
            throw ValidationError("--checkpoint-slack-interval must be from 1 to 604800 seconds")
        }
        if noSigning,
            signingKeyFile != nil || witnessPolicy != nil || checkpointDirectory != nil || !previousSigningKeyFiles.isEmpty
                || checkpointWebhook != nil || checkpointSlackChannel != nil
        {
            throw ValidationError("--no-signing keeps no transparency log: leave out --signing-key-file, --witness-policy and --checkpoint-directory")
        }
        if let maxConnections, !(1...1_000_000).contains(maxConnections) {
            throw ValidationError("--max-connections must be from 1 to 1000000")
        }
    }

    func run() async throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        // A SIGHUP (a reload request, or logrotate's) must never end the server, even before the reloader listens for
        // it: ignored until then, instead of the default action.
        signal(SIGHUP, SIG_IGN)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "greenlight")
        let policy = try PolicyFile.load(config)
        let location = try database.location()
        let environment = ProcessInfo.processInfo.environment
        let slackToken = environment["SLACK_BOT_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let store: any GateStore
        do {
            store = try await location.openStore()
        } catch {
            throw Exit.fail("cannot open the database \(location): \(error)", code: Exit.unavailable)
        }
        let clock = SystemWallClock()
        try await store.record(AuditDraft(PolicyLoaded(started: policy), by: .greenlight, at: clock.now()))
        ConnectionLimits.raiseOpenFileLimit()
        let limits = ConnectionLimits(idleSeconds: idleTimeout, requestSeconds: requestTimeout, maximumConnections: maxConnections)
        let settings = ServerSettings(host: host, port: port, publicURL: publicURL, connections: limits)
        var slackHTTP: HTTPClient?
        var slack: SlackIntegration?
        let directory = SlackDirectory(policy: policy)
        if let slackToken {
            let http = SlackWebAPI.makeHTTPClient()
            slackHTTP = http
            let api = SlackWebAPI(token: slackToken, baseURL: environment["GREENLIGHT_SLACK_API_URL"] ?? SlackWebAPI.defaultBaseURL, http: http)
            let verifier = environment["SLACK_SIGNING_SECRET"].flatMap { $0.isEmpty ? nil : SlackRequestVerifier(signingSecret: $0, clock: clock) }
            let socketMode = environment["SLACK_APP_TOKEN"].flatMap { appToken -> SocketModeClient? in
                guard !appToken.isEmpty else { return nil }
                let appAPI = SlackWebAPI(token: appToken, baseURL: api.baseURL, http: http)
                return SocketModeClient(api: appAPI, clock: clock, logger: logger)
            }
            slack = SlackIntegration(api: api, directory: directory, verifier: verifier, socketMode: socketMode)
        } else if environment["SLACK_SIGNING_SECRET"]?.isEmpty == false {
            logger.warning("SLACK_SIGNING_SECRET is set without SLACK_BOT_TOKEN: Slack stays off")
        }
        let gatekeeper = Gatekeeper(
            store: store, policy: policy, clock: clock, notifying: slackToken == nil ? [] : [.slack],
            usergroupMembers: directory.usergroupMembers)
        let slackLine =
            slack.map {
                "\n  slack:    cards to the channels the policy names, through \($0.api.baseURL)"
                    + ($0.verifier != nil
                        ? "; buttons at <public-url>/slack/interactions" : $0.socketMode == nil ? "; buttons off (set SLACK_SIGNING_SECRET)" : "")
                    + ($0.socketMode != nil ? "; buttons over Socket Mode" : "")
            }
            ?? "\n  slack:    off (set SLACK_BOT_TOKEN to post approval cards)"
        if slack != nil, policy.defaultRule.channel == nil, policy.environments.values.allSatisfy({ $0.channel == nil }) {
            logger.warning("SLACK_BOT_TOKEN is set but the policy names no channel: no card will be posted")
        }
        let databaseArgument = database.database.map { " --database \($0)" } ?? ""
        var checkpoints: AuditCheckpoints?
        var signingLine = "\n  audit:    checkpoints NOT signed: give every replica the same --signing-key-file or GREENLIGHT_SIGNING_KEY"
        if noSigning {
            signingLine = "\n  audit:    no transparency log (--no-signing): checkpoints, proofs and attestations are off"
        } else if SigningKeyOptions.givenByEnvironment || SigningKeyOptions.keyFile(given: signingKeyFile, for: location) != nil {
            let key = try SigningKeyOptions.load(keyFile: SigningKeyOptions.keyFile(given: signingKeyFile, for: location) ?? "", origin: logOrigin)
            var witnesses = try witnessSettings()
            if let checkpointSlackChannel {
                guard let slack else { throw ValidationError("--checkpoint-slack-channel needs SLACK_BOT_TOKEN: Greenlight posts as its bot") }
                witnesses?.slack = (slack.api, checkpointSlackChannel)
                witnesses?.slackInterval = TimeInterval(checkpointSlackInterval)
            }
            let previous = try previousSigningKeyFiles.map { file in
                let previous = try SigningKeyOptions.readExisting(file, what: "--previous-signing-key-file")
                guard previous.verifier.name == key.verifier.name else {
                    throw ValidationError(
                        "--previous-signing-key-file \(file) is a key of '\(previous.verifier.name)', not of this log, '\(key.verifier.name)'")
                }
                return previous
            }
            checkpoints = AuditCheckpoints(store: store, key: key, previousKeys: previous, clock: clock, witnesses: witnesses, logger: logger)
            let cosigned = witnesses.map { " (published when \($0.endpoints.count) witness(es) of the policy cosign)" } ?? ""
            signingLine = "\n  audit:    checkpoints signed every second\(cosigned), verifier key \(key.verifier)"
        } else {
            logger.warning("the audit log's checkpoints are not signed: give every replica the same --signing-key-file or GREENLIGHT_SIGNING_KEY")
        }
        let checkpointLine = signingLine
        let group = GreenlightApplication.services(
            store: store, gatekeeper: gatekeeper, settings: settings, slack: slack, policyFile: config, checkpoints: checkpoints, logger: logger
        ) { url in
            // Written straight to the descriptor: stdout may be a pipe, and whoever reads it needs the address now.
            FileHandle.standardOutput.write(
                Data(
                    """
                    Greenlight is listening on \(url)
                      database: \(location)
                      policy:   \(policy.source) (sha256 \(policy.hash.prefix(12)))\(policy.source == "built-in" ? ": every environment needs 1 approval from group 'admins' (member: admin)" : "")\(slackLine)\(checkpointLine)
                    Create tokens (each printed once, stored hashed):
                      greenlight token create --name ci --kind pipeline\(databaseArgument)
                      greenlight token create --name admin --kind approver --user admin\(databaseArgument)
                      greenlight token create --name auditor --kind auditor\(databaseArgument)

                    """.utf8)
            )
        }
        do {
            try await group.run()
        } catch {
            // Most often the address: another process listens on the port. Say so, and stop cleanly.
            try? await slackHTTP?.shutdown()
            throw Exit.fail("the server on \(host):\(port) stopped: \(error)", code: Exit.unavailable)
        }
        try await slackHTTP?.shutdown()
    }
}

extension Serve {
    /// The witnesses of `--witness-policy`, with `--checkpoint-directory`; nil with neither.
    func witnessSettings() throws -> WitnessSettings? {
        guard witnessPolicy != nil || checkpointDirectory != nil || checkpointWebhook != nil || checkpointSlackChannel != nil else { return nil }
        if let checkpointWebhook, URL(string: checkpointWebhook)?.scheme.map({ ["http", "https"].contains($0) }) != true {
            throw ValidationError("--checkpoint-webhook must be an http or https URL, not '\(checkpointWebhook.prefix(100))'")
        }
        let policy: WitnessPolicy
        if let witnessPolicy {
            guard let data = FileManager.default.contents(atPath: witnessPolicy), data.count <= 1 << 20,
                let text = String(validating: data, as: UTF8.self)
            else { throw ValidationError("--witness-policy: cannot read \(witnessPolicy) (a UTF-8 text file of at most 1 MiB)") }
            do {
                policy = try WitnessPolicy(parsing: text)
            } catch {
                throw ValidationError("--witness-policy \(witnessPolicy): \(error.description)")
            }
        } else {
            policy = WitnessPolicy(witnesses: [], quorum: .none)
        }
        if let checkpointDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: checkpointDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--checkpoint-directory: \(checkpointDirectory) is not a directory")
            }
        }
        do {
            var settings = try WitnessSettings(policy: policy, directory: checkpointDirectory)
            settings.webhook = checkpointWebhook
            return settings
        } catch {
            throw ValidationError("--witness-policy \(witnessPolicy ?? ""): \(error.description)")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
