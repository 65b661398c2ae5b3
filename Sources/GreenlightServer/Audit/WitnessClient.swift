import AsyncHTTPClient
import Foundation
import GreenlightSlack
import GreenlightTransparency
import NIOCore
import NIOHTTP1

/// A witness the log sends its checkpoints to: a `witness` line of the witness policy, which must carry the
/// witness's submission prefix (C2SP `tlog-witness`).
public struct WitnessEndpoint: Sendable, Equatable {
    public var name: String
    public var key: NoteVerifierKey
    public var submissionPrefix: String

    public init(name: String, key: NoteVerifierKey, submissionPrefix: String) {
        self.name = name
        self.key = key
        self.submissionPrefix = submissionPrefix
    }

    var addCheckpointURL: String {
        (submissionPrefix.hasSuffix("/") ? String(submissionPrefix.dropLast()) : submissionPrefix) + "/add-checkpoint"
    }
}

/// What the log does with its witnesses: whom to ask (``WitnessEndpoint``), whose cosignatures make a checkpoint
/// count (the policy's quorum), and where each counted checkpoint is published.
public struct WitnessSettings: Sendable {
    public var policy: WitnessPolicy
    public var endpoints: [WitnessEndpoint]
    /// A directory each published checkpoint is written to (`checkpoint`, replaced atomically), for file mirrors.
    public var directory: String?
    /// A URL each published checkpoint is POSTed to, as JSON (`{"origin", "size", "root", "checkpoint"}`).
    public var webhook: String?
    /// A Slack channel a published checkpoint is posted to, at most once per `slackInterval`.
    public var slack: (api: SlackWebAPI, channel: String)?
    public var slackInterval: TimeInterval = 3_600
    public var timeout: TimeInterval

    /// Reads a `tlog-policy` whose witnesses all carry their URL; throws saying which lacks one.
    public init(policy: WitnessPolicy, directory: String? = nil, timeout: TimeInterval = 5) throws(WitnessSettingsError) {
        self.policy = policy
        endpoints = try policy.witnesses.map { witness throws(WitnessSettingsError) in
            guard let url = witness.url, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw WitnessSettingsError(description: "witness \(witness.name) has no http(s) URL: the log needs its submission prefix to ask it")
            }
            return WitnessEndpoint(name: witness.name, key: witness.key, submissionPrefix: url)
        }
        self.directory = directory
        self.timeout = timeout
    }
}

public struct WitnessSettingsError: Error, CustomStringConvertible {
    public var description: String
}

/// Speaks `tlog-witness`'s `add-checkpoint` to one witness.
struct WitnessClient: Sendable {
    let http: HTTPClient

    enum Answer: Equatable {
        /// 200: the witness's cosignature lines.
        case cosigned([NoteSignature])
        /// 409: the size the witness last cosigned, when it said (the size it knows differs from `old`; or, when it
        /// equals `old`, its root at that size differs).
        case conflict(size: UInt64?)
        /// Any other answer: its status and the start of its body.
        case refused(status: Int, message: String)
    }

    /// The longest answer read: a few cosignature lines.
    static let answerLimit = 64 * 1024

    func add(_ request: AddCheckpointRequest, to witness: WitnessEndpoint, timeout: TimeInterval) async throws -> Answer {
        var post = HTTPClientRequest(url: witness.addCheckpointURL)
        post.method = .POST
        post.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        post.headers.add(name: "User-Agent", value: "greenlight")
        post.body = .bytes(ByteBuffer(string: request.encoded))
        let response = try await http.execute(post, timeout: .milliseconds(Int64(timeout * 1000)))
        let body = String(buffer: try await response.body.collect(upTo: Self.answerLimit))
        switch response.status.code {
        case 200:
            let lines = body.split(separator: "\n")
            // Parsed as a note's signature lines: appended to the checkpoint, they are checked with the witness's key.
            let signatures = try SignedNote(parsing: "x\n\n" + lines.map { $0 + "\n" }.joined()).signatures
            return .cosigned(signatures)
        case 409:
            return .conflict(size: AddCheckpointRequest.size(answer: body))
        default:
            return .refused(status: Int(response.status.code), message: String(body.prefix(200)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}

extension AddCheckpointRequest {
    /// A 409 body (`text/x.tlog.size`): the witness's size and a newline.
    static func size(answer body: String) -> UInt64? {
        guard body.hasSuffix("\n") else { return nil }
        return decimalSize(body.dropLast())
    }
}
