import Foundation
import GreenlightCore

/// The details of one action's audit events, typed: each action owns its keys (``Key``), and a call site builds its
/// record from domain values without spelling any. ``AuditDraft/init(_:by:at:gateID:service:environment:artifact:)``
/// renders it into the stored `details` object, which is what is hashed; docs/audit.md lists each action's keys, and a
/// test holds the two together.
public protocol AuditRecord: Sendable, Equatable {
    /// Every detail key events of this action may carry, as stored.
    associatedtype Key: RawRepresentable, CaseIterable, Hashable, Sendable where Key.RawValue == String

    /// The action every event of this record carries.
    static var action: AuditAction { get }

    /// The details this event carries, by key; a key whose value is absent is left out.
    var fields: [Key: String] { get }
}

extension AuditRecord {
    /// The stored `details` object.
    public var details: [String: String] {
        Dictionary(uniqueKeysWithValues: fields.map { ($0.key.rawValue, $0.value) })
    }

    /// The keys this record declares, as stored.
    public static var detailKeys: Set<String> { Set(Key.allCases.map(\.rawValue)) }
}

extension AuditAction {
    /// The record whose details events of this action carry: exactly one per action, so that every action's keys are
    /// declared in one place.
    public var record: any AuditRecord.Type {
        switch self {
        case .gateOpened: GateOpened.self
        case .gateOpenRefused: GateOpenRefused.self
        case .voteRecorded: VoteRecorded.self
        case .voteRefused: VoteRefused.self
        case .auditReadRefused: AuditReadRefused.self
        case .gateDecided: GateDecided.self
        case .cancelRefused: CancelRefused.self
        case .gateNotified: GateNotified.self
        case .notificationFailed: NotificationFailed.self
        case .gateReminded: GateReminded.self
        case .gateEscalated: GateEscalated.self
        case .slackRequestRefused: SlackRequestRefused.self
        case .tokenCreated: TokenCreated.self
        case .policyLoaded: PolicyLoaded.self
        case .policyRefused: PolicyRefused.self
        case .breakGlass: BreakGlassUsed.self
        case .breakGlassRefused: BreakGlassRefused.self
        case .witnessConflict: WitnessConflict.self
        case .stateMismatch: StateMismatch.self
        }
    }

    /// The detail keys events of this action may carry.
    public var detailKeys: Set<String> { record.detailKeys }
}

extension AuditDraft {
    /// The event `record` makes, by `actor` at `date`, about the gate (or the deploy) the other fields name.
    public init<Record: AuditRecord>(
        _ record: Record, by actor: AuditActor, at date: Date, gateID: String? = nil, service: String? = nil, environment: String? = nil,
        artifact: String? = nil
    ) {
        self.init(
            at: date, actor: actor.description, action: Record.action, gateID: gateID, service: service, environment: environment,
            artifact: artifact, details: record.details)
    }

    /// The event `record` makes about `gate`, by `actor` at `date`, carrying the gate's service, environment and artifact.
    public init<Record: AuditRecord>(_ record: Record, by actor: AuditActor, at date: Date, gate: Gate) {
        self.init(at: date, actor: actor.description, action: Record.action, gate: gate, details: record.details)
    }
}
