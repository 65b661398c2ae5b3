import Foundation
import GreenlightCore

/// An event about to be appended: everything but its place in the chain.
public struct AuditDraft: Sendable, Equatable {
    public var at: Date
    public var actor: String
    public var action: AuditAction
    public var gateID: String?
    public var service: String?
    public var environment: String?
    public var artifact: String?
    public var details: [String: String]

    public init(
        at: Date,
        actor: String,
        action: AuditAction,
        gateID: String? = nil,
        service: String? = nil,
        environment: String? = nil,
        artifact: String? = nil,
        details: [String: String] = [:]
    ) {
        self.at = Timestamp.truncated(at)
        self.actor = actor
        self.action = action
        self.gateID = gateID
        self.service = service
        self.environment = environment
        self.artifact = artifact
        self.details = details
    }

    /// A draft about `gate`, carrying its service, environment and artifact.
    public init(at: Date, actor: String, action: AuditAction, gate: Gate, details: [String: String] = [:]) {
        self.init(
            at: at,
            actor: actor,
            action: action,
            gateID: gate.id.rawValue,
            service: gate.request.service,
            environment: gate.request.environment,
            artifact: gate.request.artifact,
            details: details
        )
    }
}

/// One link of the audit chain: an event, its position, the hash of the event before it, and its own hash.
public struct AuditEvent: Sendable, Equatable, Codable {
    /// 1, 2, 3, … with no gaps.
    public var sequence: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var gateID: String?
    public var service: String?
    public var environment: String?
    public var artifact: String?
    public var details: [String: String]
    public var previousHash: String
    public var hash: String

    public init(
        sequence: Int64,
        at: Date,
        actor: String,
        action: String,
        gateID: String?,
        service: String?,
        environment: String?,
        artifact: String?,
        details: [String: String],
        previousHash: String,
        hash: String
    ) {
        self.sequence = sequence
        self.at = at
        self.actor = actor
        self.action = action
        self.gateID = gateID
        self.service = service
        self.environment = environment
        self.artifact = artifact
        self.details = details
        self.previousHash = previousHash
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case sequence, at, actor, action
        case gateID = "gate_id"
        case service, environment, artifact, details
        case previousHash = "previous_hash"
        case hash
    }
}
