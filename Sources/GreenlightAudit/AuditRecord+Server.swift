import Foundation
import GreenlightCore

// The records of what happens around gates: reads of the log refused, Slack requests refused, tokens, policies.

/// `audit.read_refused`: a principal other than an auditor asked for the audit log.
public struct AuditReadRefused: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case reason
    }

    public static let action = AuditAction.auditReadRefused

    public var refusal: AccessRefusal

    public init(_ refusal: AccessRefusal) {
        self.refusal = refusal
    }

    public var fields: [Key: String] { [.reason: refusal.code] }
}

/// `slack.request_refused`: a request to `/slack/interactions` failed signature verification, or — beyond the audit
/// budget for such requests — a minute's count of those that were not written one by one.
public struct SlackRequestRefused: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case reason, message, remote, unwritten, addresses, from, to, top
        case fromUncountedAddresses = "from_uncounted_addresses"
    }

    public static let action = AuditAction.slackRequestRefused

    public var refusal: Refusal

    public enum Refusal: Sendable, Equatable {
        /// One request: why its signature failed (`forged`, `stale`, `unsigned`, `malformed_timestamp`), and from where.
        case request(reason: String, message: String, remote: String)
        /// The requests of the minute from `from` to `to` that were over the budget.
        case overBudget(OverBudget)
    }

    /// The refused requests of one minute that were counted but not written.
    public struct OverBudget: Sendable, Equatable {
        public var from: Date
        public var to: Date
        public var unwritten: Int
        /// From how many remote addresses, counted one by one up to a bound.
        public var addresses: Int
        /// Of `unwritten`, those from addresses beyond the bound.
        public var fromUncountedAddresses: Int
        /// The addresses that sent the most, most first.
        public var top: [Sender]

        public struct Sender: Sendable, Equatable {
            public var address: String
            public var count: Int

            public init(address: String, count: Int) {
                self.address = address
                self.count = count
            }
        }

        public init(from: Date, to: Date, unwritten: Int, addresses: Int, fromUncountedAddresses: Int, top: [Sender]) {
            self.from = from
            self.to = to
            self.unwritten = unwritten
            self.addresses = addresses
            self.fromUncountedAddresses = fromUncountedAddresses
            self.top = top
        }
    }

    public init(_ refusal: Refusal) {
        self.refusal = refusal
    }

    public var fields: [Key: String] {
        switch refusal {
        case .request(let reason, let message, let remote):
            return [.reason: reason, .message: message, .remote: remote]
        case .overBudget(let count):
            var fields: [Key: String] = [
                .reason: "over_audit_budget", .unwritten: String(count.unwritten), .addresses: String(count.addresses),
                .from: Timestamp.format(count.from), .to: Timestamp.format(count.to),
                .top: count.top.map { "\($0.address) ×\($0.count)" }.joined(separator: ", "),
            ]
            if count.fromUncountedAddresses > 0 { fields[.fromUncountedAddresses] = String(count.fromUncountedAddresses) }
            return fields
        }
    }
}

/// `token.created`: the operator issued a token (never its secret).
public struct TokenCreated: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case name, kind, user, services, environments
        case secretBinding = "secret_binding"
    }

    public static let action = AuditAction.tokenCreated

    public var token: AccessToken
    /// ``LogAgreement/secretBinding(ofSecretHash:)`` of the stored hash of its secret: binds the row's secret to the
    /// log without saying anything of it (nil for records made without it).
    public var secretBinding: String?

    public init(_ token: AccessToken, secretHash: String? = nil) {
        self.token = token
        secretBinding = secretHash.map(LogAgreement.secretBinding(ofSecretHash:))
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.name: token.name, .kind: token.kind.rawValue]
        fields[.user] = token.user
        if !token.services.isEmpty { fields[.services] = token.services.joined(separator: ",") }
        if !token.environments.isEmpty { fields[.environments] = token.environments.joined(separator: ",") }
        fields[.secretBinding] = secretBinding
        return fields
    }
}

/// `policy.loaded`: the server started with a policy, or reloaded an edited one.
public struct PolicyLoaded: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case source, trigger
        case policyHash = "policy_hash"
        case previousHash = "previous_hash"
    }

    public static let action = AuditAction.policyLoaded

    /// The file the policy was read from, or `built-in`.
    public var source: String
    public var policyHash: String
    /// The hash of the policy it replaced, on a reload; `nil` at start.
    public var previousHash: String?

    /// The policy the server started with.
    public init(started policy: Policy) {
        source = policy.source
        policyHash = policy.hash
    }

    /// An edited policy put in force in place of the one whose hash is `previousHash`.
    public init(reloaded policy: Policy, previousHash: String) {
        source = policy.source
        policyHash = policy.hash
        self.previousHash = previousHash
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.source: source, .policyHash: policyHash]
        if let previousHash {
            fields[.previousHash] = previousHash
            fields[.trigger] = "reload"
        }
        return fields
    }
}

/// `policy.refused`: a reload did not load the policy file; the policy in force (`policy_hash`) stays.
public struct PolicyRefused: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case source, reason, errors
        case policyHash = "policy_hash"
        case refusedHash = "refused_hash"
    }

    public static let action = AuditAction.policyRefused

    /// The policy file's path.
    public var source: String
    /// The hash of the policy that stays in force.
    public var policyHash: String
    public var failure: Failure

    public enum Failure: Sendable, Equatable {
        /// The edit with hash `refusedHash` did not validate: its errors and warnings, as the parser reports them.
        case invalid(refusedHash: String, errors: [String])
        /// The file could not be read (missing, unreadable, not UTF-8, too large), and why.
        case unreadable(String)
    }

    public init(source: String, inForce policyHash: String, _ failure: Failure) {
        self.source = source
        self.policyHash = policyHash
        self.failure = failure
    }

    public var fields: [Key: String] {
        switch failure {
        case .invalid(let refusedHash, let errors):
            [.source: source, .reason: "invalid", .refusedHash: refusedHash, .policyHash: policyHash, .errors: errors.joined(separator: "\n")]
        case .unreadable(let error):
            [.source: source, .reason: "unreadable", .policyHash: policyHash, .errors: error]
        }
    }
}

/// `audit.witness_conflict`: a witness refused a checkpoint of this log because it has seen another tree — larger
/// than this log, or different at the same size, or not one this log's tree extends. Either the log was rewound or
/// rewritten (the database edited, restored from an old backup), or the witness was given another log's checkpoints
/// under this origin: a fork alarm, until an operator has looked.
public struct WitnessConflict: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case witness, reason, message
        case logSize = "log_size"
        case witnessSize = "witness_size"
    }

    public static let action = AuditAction.witnessConflict

    /// The witness's key name.
    public var witness: String
    /// `larger_tree` (it saw more events than the log has), `different_root` (same size, another root),
    /// `inconsistent` (the log's tree does not extend the one it saw).
    public var reason: String
    public var logSize: UInt64
    public var witnessSize: UInt64?
    public var message: String

    public init(witness: String, reason: String, logSize: UInt64, witnessSize: UInt64?, message: String) {
        self.witness = witness
        self.reason = reason
        self.logSize = logSize
        self.witnessSize = witnessSize
        self.message = message
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.witness: witness, .reason: reason, .logSize: String(logSize), .message: message]
        fields[.witnessSize] = witnessSize.map(String.init)
        return fields
    }
}

/// `audit.state_mismatch`: the server refused to act on a stored row that disagrees with the audit log — a gate
/// whose decision, plan or votes are not the ones the log recorded (told to its pipeline as a 500, never as the
/// decision), or a token the log never recorded creating. Someone wrote the database behind the server's back.
public struct StateMismatch: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case message, token
    }

    public static let action = AuditAction.stateMismatch

    public var message: String
    /// The token's name, when the row is a token's.
    public var token: String?

    public init(message: String, token: String? = nil) {
        self.message = message
        self.token = token
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.message: message]
        fields[.token] = token
        return fields
    }
}
