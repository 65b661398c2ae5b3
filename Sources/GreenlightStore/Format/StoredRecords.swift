import Foundation
import GreenlightCore

/// A gate's request as stored: the pipeline's claimed facts, in the API's field names.
///
/// Its JSON is byte for byte what the first stores wrote (the same keys, absent optionals left out), so that the
/// fingerprints of requests stored before this record existed still match a retry.
public struct StoredRequest: Codable, Equatable, Sendable {
    var service: String
    var environment: String
    var artifact: String
    var commit: String
    var baseCommit: String?
    var pullRequest: String?
    var ticket: String?
    var runURL: String?
    var triggeredBy: String?
    var authors: [String]
    var summary: String?
    var changedPaths: [String]
    var costDeltaMonthly: Double?
    var labels: [String: String]
    var callbackURL: String?

    enum CodingKeys: String, CodingKey {
        case service, environment, artifact, commit
        case baseCommit = "base_commit"
        case pullRequest = "pull_request"
        case ticket
        case runURL = "run_url"
        case triggeredBy = "triggered_by"
        case authors, summary
        case changedPaths = "changed_paths"
        case costDeltaMonthly = "cost_delta_monthly"
        case labels
        case callbackURL = "callback_url"
    }

    public init(_ request: GateRequest) {
        service = request.service
        environment = request.environment
        artifact = request.artifact
        commit = request.commit
        baseCommit = request.baseCommit
        pullRequest = request.pullRequest
        ticket = request.ticket
        runURL = request.runURL
        triggeredBy = request.triggeredBy
        authors = request.authors
        summary = request.summary
        changedPaths = request.changedPaths
        costDeltaMonthly = request.costDeltaMonthly
        labels = request.labels
        callbackURL = request.callbackURL
    }

    public var request: GateRequest {
        GateRequest(
            service: service, environment: environment, artifact: artifact, commit: commit, baseCommit: baseCommit, pullRequest: pullRequest,
            ticket: ticket, runURL: runURL, triggeredBy: triggeredBy, authors: authors, summary: summary, changedPaths: changedPaths,
            costDeltaMonthly: costDeltaMonthly, labels: labels, callbackURL: callbackURL)
    }
}

/// A gate's plan as stored (record format 2): the policy frozen for the gate when it opened. Durations are seconds,
/// instants milliseconds since 1970 (``StoredFormat``), enumerations their raw values, checked when read.
public struct StoredPlan: Codable, Equatable, Sendable {
    struct Requirement: Codable, Equatable, Sendable {
        var group: String
        var count: Int
        var eligible: [String]
    }

    struct Stage: Codable, Equatable, Sendable {
        var name: String
        var requirements: [Requirement]
        var timeoutSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case name, requirements
            case timeoutSeconds = "timeout_seconds"
        }
    }

    struct Exclusion: Codable, Equatable, Sendable {
        var identity: String
        var role: String
    }

    struct Reminder: Codable, Equatable, Sendable {
        var beforeDeadlineSeconds: Double
        var mention: [String]

        enum CodingKeys: String, CodingKey {
            case beforeDeadlineSeconds = "before_deadline_seconds"
            case mention
        }
    }

    struct Escalation: Codable, Equatable, Sendable {
        var afterSeconds: Double
        var to: [String]

        enum CodingKeys: String, CodingKey {
            case afterSeconds = "after_seconds"
            case to
        }
    }

    struct BreakGlass: Codable, Equatable, Sendable {
        var groups: [String]
        var eligible: [String]
        var maxPerDay: Int

        enum CodingKeys: String, CodingKey {
            case groups, eligible
            case maxPerDay = "max_per_day"
        }
    }

    struct Target: Codable, Equatable, Sendable {
        var channel: String
        var address: String
    }

    struct Freeze: Codable, Equatable, Sendable {
        var name: String
        var endsAt: Date

        enum CodingKeys: String, CodingKey {
            case name
            case endsAt = "ends_at"
        }
    }

    var gated: Bool
    var rule: String
    var tier: String
    var stages: [Stage]
    var exclusions: [Exclusion]
    var timeoutSeconds: Double
    var onTimeout: String
    var failOpenReason: String?
    var notify: [Target]
    var policyHash: String
    var reminder: Reminder?
    var escalation: Escalation?
    var breakGlass: BreakGlass?
    var frozen: Freeze?

    enum CodingKeys: String, CodingKey {
        case gated, rule, tier, stages, exclusions
        case timeoutSeconds = "timeout_seconds"
        case onTimeout = "on_timeout"
        case failOpenReason = "fail_open_reason"
        case notify
        case policyHash = "policy_hash"
        case reminder, escalation
        case breakGlass = "break_glass"
        case frozen
    }

    public init(_ plan: GatePlan) {
        gated = plan.gated
        rule = plan.rule
        tier = plan.tier
        stages = plan.stages.map { stage in
            Stage(
                name: stage.name, requirements: stage.requirements.map { Requirement(group: $0.group, count: $0.count, eligible: $0.eligible) },
                timeoutSeconds: stage.timeout?.seconds)
        }
        exclusions = plan.exclusions.map { Exclusion(identity: $0.identity, role: $0.role.rawValue) }
        timeoutSeconds = plan.timeout.seconds
        onTimeout = plan.onTimeout.rawValue
        failOpenReason = plan.failOpenReason
        notify = plan.notify.map { Target(channel: $0.channel.rawValue, address: $0.address) }
        policyHash = plan.policyHash
        reminder = plan.reminder.map { Reminder(beforeDeadlineSeconds: $0.beforeDeadline.seconds, mention: $0.mention) }
        escalation = plan.escalation.map { Escalation(afterSeconds: $0.after.seconds, to: $0.to) }
        breakGlass = plan.breakGlass.map { BreakGlass(groups: $0.groups, eligible: $0.eligible, maxPerDay: $0.maxPerDay) }
        frozen = plan.frozen.map { Freeze(name: $0.name, endsAt: $0.endsAt) }
    }

    /// The domain's plan; a role or timeout action this build does not know is an error, never a default.
    public func plan() throws -> GatePlan {
        guard let onTimeout = TimeoutAction(rawValue: onTimeout) else {
            throw StoreError.corruptRow("a stored plan has on_timeout '\(self.onTimeout)', which this version does not know")
        }
        let exclusions = try exclusions.map { exclusion in
            guard let role = DutyRole(rawValue: exclusion.role) else {
                throw StoreError.corruptRow("a stored plan bars '\(exclusion.identity)' as '\(exclusion.role)', which this version does not know")
            }
            return GreenlightCore.Exclusion(identity: exclusion.identity, role: role)
        }
        var plan = GatePlan(
            gated: gated, rule: rule, tier: tier,
            stages: stages.map { stage in
                PlanStage(
                    name: stage.name,
                    requirements: stage.requirements.map { ApprovalRequirement(group: $0.group, count: $0.count, eligible: $0.eligible) },
                    timeout: stage.timeoutSeconds.map(PolicyDuration.init(seconds:)))
            },
            exclusions: exclusions, timeout: PolicyDuration(seconds: timeoutSeconds), onTimeout: onTimeout, failOpenReason: failOpenReason,
            channel: nil, policyHash: policyHash,
            reminder: reminder.map { Policy.Reminder(beforeDeadline: PolicyDuration(seconds: $0.beforeDeadlineSeconds), mention: $0.mention) },
            escalation: escalation.map { Policy.Escalation(after: PolicyDuration(seconds: $0.afterSeconds), to: $0.to) },
            breakGlass: breakGlass.map { PlanBreakGlass(groups: $0.groups, eligible: $0.eligible, maxPerDay: $0.maxPerDay) },
            frozen: frozen.map { ActiveFreeze(name: $0.name, endsAt: $0.endsAt) })
        plan.notify = notify.map { NotificationTarget(channel: NotificationChannel($0.channel), address: $0.address) }
        return plan
    }
}
