import Foundation

/// Who may do what, decided in one place for every transport (HTTP, Slack over HTTP and Socket Mode, later the web page
/// and webhooks): pure, so that each rule is tested without I/O. It only decides; the caller audits a refusal and each
/// transport translates it into its own answer (an HTTP status and code, a Slack ephemeral message).
///
/// These are the rules of who is acting. The rules of a gate itself — which groups may decide it, separation of duties,
/// stages, quorum, break-glass's allowed groups and its daily limit — are the gate's frozen plan's, applied by the
/// domain (``Gate/recording(_:)``, ``Gate/breakingGlass(by:reason:at:)``) in the transaction that records the change.
public struct Authorizer: Sendable {
    /// The policy in force, for the one rule that needs to know people beyond a gate's plan: whether a Slack account the
    /// policy does not map could be someone the gate bars.
    let policy: @Sendable () -> Policy

    public init(policy: @escaping @Sendable () -> Policy) {
        self.policy = policy
    }

    public init(policy: Policy) {
        self.init { policy }
    }

    /// Why `principal` may not do `act`, or `nil` if it may.
    public func refusal(of principal: Principal, to act: Act) -> AccessRefusal? {
        do throws(AccessRefusal) {
            try authorize(principal, to: act)
            return nil
        } catch {
            return error
        }
    }

    /// Throws why `principal` may not do `act`.
    public func authorize(_ principal: Principal, to act: Act) throws(AccessRefusal) {
        switch act {
        case .openGate(let service, let environment): _ = try opener(principal, service: service, environment: environment)
        case .readGate(let subject): try reader(principal, of: subject)
        case .vote(let subject): _ = try voter(principal, on: subject)
        case .cancel(let gate): _ = try canceller(principal, of: gate)
        case .breakGlass(let id): _ = try breaker(principal, on: id)
        case .readAudit: try auditReader(principal)
        case .readPolicy: return
        }
    }

    /// The pipeline that may open a gate for a deploy of `service` to `environment`: only pipelines open gates, each
    /// within its token's scope.
    public func opener(_ principal: Principal, service: String, environment: String) throws(AccessRefusal) -> PipelineToken {
        guard case .pipeline(let pipeline) = principal else { throw .notAPipeline(principal) }
        try checkScope(of: pipeline, service: service, environment: environment)
        return pipeline
    }

    /// Whether `principal` may read the gate `subject` (its state, or a long-poll of it). Asked before the gate is read
    /// too, so that a principal who reads no gates learns nothing of whether one exists. Pipelines read the gates of
    /// their scope, people every gate; auditors read the audit log instead.
    public func reader(_ principal: Principal, of subject: GateSubject) throws(AccessRefusal) {
        switch principal {
        case .pipeline(let pipeline):
            guard case .read(let gate) = subject else { return }
            try checkScope(of: pipeline, service: gate.request.service, environment: gate.request.environment)
        case .person:
            return
        case .auditor, .greenlight, .operator:
            throw .readsNoGates(principal, gate: subject.id)
        }
    }

    /// The person who may vote on the gate `subject`: only people vote. Once the gate is read, a Slack account the
    /// policy does not map may not decide a gate whose separation of duties bars someone the policy knows no Slack id
    /// for (named by no person, or by a person without `slack:`): the account might be theirs.
    public func voter(_ principal: Principal, on subject: GateSubject) throws(AccessRefusal) -> ActingPerson {
        guard let person = principal.person else { throw .notAPerson(principal, doing: .vote) }
        guard case .read(let gate) = subject, person.isUnmappedSlackAccount, let user = person.slackUser else { return person }
        let policy = policy()
        if let unresolved = gate.plan.exclusions.first(where: { policy.person(identifiedBy: $0.identity)?.slack == nil }) {
            throw .unverifiedIdentity(slackUser: user, barred: unresolved)
        }
        return person
    }

    /// The pipeline that may cancel `gate`: only the one whose token opened it (a superseded run of its own).
    public func canceller(_ principal: Principal, of gate: Gate) throws(AccessRefusal) -> PipelineToken {
        guard case .pipeline(let pipeline) = principal, pipeline.name == gate.openedBy else { throw .notTheOpener(openedBy: gate.openedBy) }
        return pipeline
    }

    /// The person who may ask to break glass on the gate `id`: only people do; whether this person may on this gate is
    /// the gate's plan's to say (``Gate/breakGlassReason(by:_:)``).
    public func breaker(_ principal: Principal, on id: GateID) throws(AccessRefusal) -> ActingPerson {
        guard let person = principal.person else { throw .notAPerson(principal, doing: .breakGlass) }
        return person
    }

    /// Whether `principal` may read the audit log: auditors only (the operator reads it from the store at the CLI).
    public func auditReader(_ principal: Principal) throws(AccessRefusal) {
        guard case .auditor = principal else { throw .notAnAuditor(principal) }
    }

    private func checkScope(of pipeline: PipelineToken, service: String, environment: String) throws(AccessRefusal) {
        if !pipeline.services.isEmpty, !pipeline.services.contains(service) {
            throw .outOfScope(pipeline: pipeline.name, scope: .services, allowed: pipeline.services, asked: service)
        }
        if !pipeline.environments.isEmpty, !pipeline.environments.contains(environment) {
            throw .outOfScope(pipeline: pipeline.name, scope: .environments, allowed: pipeline.environments, asked: environment)
        }
    }
}

/// What a principal asks to do, with what the decision needs to know of its subject.
public enum Act: Sendable, Equatable {
    /// Open a gate for a deploy of `service` to `environment`.
    case openGate(service: String, environment: String)
    /// Read a gate, or long-poll it.
    case readGate(GateSubject)
    /// Vote on a gate (approve or reject).
    case vote(GateSubject)
    /// Cancel a gate (a superseded run).
    case cancel(Gate)
    /// Break glass on a gate.
    case breakGlass(GateID)
    /// Read the audit log.
    case readAudit
    /// Read the policy in force: anyone authenticated may know the rules they are held to.
    case readPolicy
}

/// The gate an act is on: before it is read (only its id is known, and a refusal says nothing of whether it exists), or
/// as read.
public enum GateSubject: Sendable, Equatable {
    case unread(GateID)
    case read(Gate)

    public var id: GateID {
        switch self {
        case .unread(let id): id
        case .read(let gate): gate.id
        }
    }
}

/// Why the authorizer refused a principal an act. Each case says what happened and what to do instead; ``code`` is
/// the audit event's `reason` and, unless the transport's contract says otherwise, its error code.
public enum AccessRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// Only pipeline tokens open gates.
    case notAPipeline(Principal)
    /// The pipeline's token is scoped to other services or environments.
    case outOfScope(pipeline: String, scope: Scope, allowed: [String], asked: String)
    /// This principal reads no gates (auditors read the audit log instead).
    case readsNoGates(Principal, gate: GateID)
    /// Only people vote and break glass.
    case notAPerson(Principal, doing: PersonAct)
    /// Only the pipeline whose token opened a gate cancels it.
    case notTheOpener(openedBy: String)
    /// Only auditors read the audit log.
    case notAnAuditor(Principal)
    /// A Slack account the policy does not map, on a gate whose separation of duties bars someone the policy knows no
    /// Slack id for.
    case unverifiedIdentity(slackUser: String, barred: Exclusion)

    /// Which part of a pipeline token's scope refused.
    public enum Scope: String, Sendable {
        case services
        case environments
    }

    /// What only people do.
    public enum PersonAct: String, Sendable {
        case vote
        case breakGlass = "break glass"
    }

    /// A short machine-readable code: the audit event's `reason`.
    public var code: String {
        switch self {
        case .notAPipeline, .outOfScope: "out_of_scope"
        case .readsNoGates: "not_allowed"
        case .notAPerson: "not_an_approver_token"
        case .notTheOpener: "not_opener"
        case .notAnAuditor: "not_an_auditor_token"
        case .unverifiedIdentity: "unverified_identity"
        }
    }

    public var description: String {
        switch self {
        case .notAPipeline(let principal):
            return "only pipeline tokens open gates; \(principal.credentialDescription)"
        case .outOfScope(let pipeline, let scope, let allowed, let asked):
            return "token '\(pipeline)' may open gates only for \(scope.rawValue) \(allowed.joined(separator: ", ")), not '\(asked)'"
        case .readsNoGates(.auditor, let gate):
            return "auditor tokens read the audit log (GET /v1/audit?gate=\(gate)), not gates"
        case .readsNoGates(let principal, _):
            return "only pipeline and approver tokens read gates; \(principal.credentialDescription)"
        case .notAPerson(let principal, let act):
            return "only approver tokens \(act.rawValue); \(principal.credentialDescription)"
        case .notTheOpener(let openedBy):
            return "only the pipeline token that opened this gate ('\(openedBy)') may cancel it"
        case .notAnAuditor(let principal):
            return "only auditor tokens read the audit log; \(principal.credentialDescription)"
        case .unverifiedIdentity(let user, let barred):
            return "separation of duties bars \(barred.identity) (the \(barred.role.rawValue)) from this gate, and "
                + "Greenlight cannot tell whether your Slack account (\(user)) is theirs: ask for "
                + "'slack: \(user)' under your name in the policy's people"
        }
    }
}
