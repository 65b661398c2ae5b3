import Foundation
import Testing

@testable import GreenlightCore
@testable import GreenlightPolicyFile

@Suite("Risk tiers")
struct TierTests {
    static let policyYAML = """
        version: 1
        groups:
          leads: { members: [alice, bob, carol] }
          finance: { members: [erin] }
          dba: { members: [dora] }
        environments:
          staging: { require: [ { group: leads, count: 1 } ], channel: C0STAGING }
          production: { require: [ { group: leads, count: 1 } ], channel: C0PROD, timeout: 2h }
        tiers:
          - name: schema-migration
            when: { environment: production, changed_paths: ["db/migrations/**"] }
            require: [ { group: dba, count: 1 }, { group: leads, count: 2 } ]
          - name: payments
            when: { service: "payments-*" }
            require: [ { group: leads, count: 3 } ]
          - name: costly
            when: { any: [ { cost_delta_monthly: { gt: 500 } }, { labels: { risk: high } } ] }
            stages:
              - { name: leads, require: [ { group: leads, count: 1 } ] }
              - { name: finance, require: [ { group: finance, count: 1 } ], timeout: 1h }
          - name: cheap-staging
            when: { all: [ { environment: staging }, { cost_delta_monthly: { lte: 0 } } ] }
            gate: none
          - name: flag-flip
            when: { environment: staging, labels: { change: feature-flag } }
            gate: none
        default: { require: [ { group: leads, count: 1 } ] }
        """

    static let policy = try! PolicyParser(file: "tiers.yaml").parse(policyYAML).policy

    static func request(
        service: String = "shop", environment: String = "production", paths: [String] = [], cost: Double? = nil, labels: [String: String] = [:]
    ) -> GateRequest {
        var request = GateRequest(service: service, environment: environment, artifact: "a@sha256:1", commit: "0123abcd")
        request.changedPaths = paths
        request.costDeltaMonthly = cost
        request.labels = labels
        return request
    }

    @Test(
        "the first tier whose 'when' matches sets the tier",
        arguments: [
            (request(paths: ["db/migrations/2026/0042.sql"]), "schema-migration"),
            (request(paths: ["src/db/migrations/0042.sql"]), "production"),  // a glob is anchored at the start
            (request(paths: ["./db//migrations/0042.sql"]), "schema-migration"),  // however the pipeline spells the path
            (request(environment: "staging", paths: ["db/migrations/0042.sql"]), "staging"),  // both keys must match
            (request(service: "payments-api", paths: ["db/migrations/1.sql"]), "schema-migration"),  // first match wins
            (request(service: "payments-api"), "payments"),
            (request(service: "payments"), "production"),  // "payments-*" needs the dash
            (request(cost: 500.01), "costly"),
            (request(cost: 500), "production"),  // gt is strict
            (request(labels: ["risk": "high"]), "costly"),  // any: one branch is enough
            (request(labels: ["risk": "low"]), "production"),
            (request(environment: "staging", cost: 0), "cheap-staging"),
            (request(environment: "staging", cost: 1), "staging"),
            (request(environment: "staging"), "staging"),  // no stated cost matches no cost bound
            (request(environment: "staging", labels: ["change": "feature-flag"]), "flag-flip"),
            (request(environment: "qa"), "default"),
        ])
    func firstMatch(request: GateRequest, tier: String) {
        #expect(Self.policy.plan(for: request).tier == tier)
    }

    @Test("a tier's keys replace the environment's; the keys it leaves out still come from the environment")
    func layering() {
        let plan = Self.policy.plan(for: Self.request(paths: ["db/migrations/1.sql"]))
        #expect(plan.rule == "tiers.schema-migration")
        #expect(plan.requirements.map(\.group) == ["dba", "leads"])
        #expect(plan.requirements.map(\.count) == [1, 2])
        #expect(plan.channel == "C0PROD")
        #expect(plan.timeout == PolicyDuration(seconds: 7_200))
    }

    @Test("fail-open layers with its reason (invariant 4): inherited together, dropped together, never from a reason alone")
    func failOpenLayering() throws {
        let policy = try PolicyParser(file: "fail-open.yaml").parse(
            """
            version: 1
            groups:
              leads: { members: [alice, bob, carol] }
            environments:
              canary: { require: [ { group: leads, count: 1 } ], on_timeout: approve, fail_open_reason: the canary rolls back }
              production: { require: [ { group: leads, count: 1 } ] }
            tiers:
              - { name: inherits, when: { labels: { t: inherits } }, require: [ { group: leads, count: 2 } ] }
              - { name: strict, when: { labels: { t: strict } }, on_timeout: reject }
              - { name: reason-only, when: { labels: { t: reason } }, fail_open_reason: another reason }
            default: { require: [ { group: leads, count: 1 } ] }
            """
        ).policy
        let inherits = policy.plan(for: Self.request(environment: "canary", labels: ["t": "inherits"]))
        #expect(inherits.onTimeout == .approve)
        #expect(inherits.failOpenReason == "the canary rolls back")
        let strict = policy.plan(for: Self.request(environment: "canary", labels: ["t": "strict"]))
        #expect(strict.onTimeout == .reject)
        #expect(strict.failOpenReason == nil)
        let reasonOnly = policy.plan(for: Self.request(environment: "production", labels: ["t": "reason"]))
        #expect(reasonOnly.onTimeout == .reject, "a reason alone does not make a gate fail open")
        #expect(reasonOnly.failOpenReason == nil)
        let unnamed = policy.plan(for: Self.request(environment: "qa"))
        #expect(unnamed.gated && unnamed.onTimeout == .reject, "an environment the policy does not name is gated by default")
    }

    @Test("a tier can lower the bar: gate: none records the deploy without gating it")
    func lowering() {
        let plan = Self.policy.plan(for: Self.request(environment: "staging", labels: ["change": "feature-flag"]))
        #expect(!plan.gated)
        let gate = Fixtures.gate(plan)
        #expect(gate.state == .approved)
        #expect(gate.reason?.contains("tiers.flag-flip") == true)
    }

    @Test("a tier that asks for approvals is gated even over an environment's gate: none")
    func raisingOverNone() throws {
        let yaml = """
            groups: { leads: { members: [a] } }
            environments: { sandbox: { gate: none } }
            tiers: [ { name: risky, when: { labels: { risk: high } }, require: [ { group: leads, count: 1 } ] } ]
            default: { require: [ { group: leads } ] }
            """
        let policy = try PolicyParser(file: "t.yaml").parse(yaml).policy
        #expect(policy.plan(for: Self.request(environment: "sandbox", labels: ["risk": "high"])).gated)
        #expect(!policy.plan(for: Self.request(environment: "sandbox")).gated)
    }

    @Test(
        "each mistake in tiers, stages, freezes and break-glass names its line and key",
        arguments: [
            ("tiers: [ { when: { environment: prod }, require: [ { group: ops } ] } ]", 5, "tiers[0]", "missing 'name'"),
            ("tiers: [ { name: t, require: [ { group: ops } ] } ]", 5, "tiers.t.when", "missing"),
            ("tiers: [ { name: t, when: {} } ]", 5, "tiers.t.when", "would match every gate"),
            ("tiers: [ { name: t, when: { colour: red } } ]", 5, "tiers.t.when.colour", "unknown key"),
            ("tiers: [ { name: t, when: { changed_paths: [\"a**\"] } } ]", 5, "tiers.t.when.changed_paths", "'a**'"),
            ("tiers: [ { name: t, when: { cost_delta_monthly: { above: 5 } } } ]", 5, "tiers.t.when.cost_delta_monthly.above", "unknown key"),
            ("tiers: [ { name: t, when: { cost_delta_monthly: { gt: lots } } } ]", 5, "tiers.t.when.cost_delta_monthly.gt", "expected an amount"),
            ("tiers: [ { name: t, when: { any: [] } } ]", 5, "tiers.t.when.any", "non-empty list"),
            ("tiers: [ { name: t, when: { labels: {} }, gate: none } ]", 5, "tiers.t.when.labels", "would match every gate"),
            ("environments:\n  p: { require: [ { group: ops, count: 1000000000 } ] }", 6, "environments.p.require[0].count", "cannot be meant"),
            ("tiers: [ { name: t, when: { environment: p }, freeze: [] } ]", 5, "tiers.t.freeze", "belongs to an environment"),
            ("tiers:\n  - { name: t, when: { environment: p } }\n  - { name: t, when: { environment: q } }", 7, "tiers.t.name", "already defined"),
            (
                "environments:\n  p: { require: [ { group: ops } ], stages: [ { name: a, require: [ { group: ops } ] } ] }", 6,
                "environments.p.stages",
                "not both"
            ),
            ("environments:\n  p: { stages: [ { require: [ { group: ops } ] } ] }", 6, "environments.p.stages[0]", "missing 'name'"),
            ("environments:\n  p: { stages: [ { name: a } ] }", 6, "environments.p.stages[0].require", "missing"),
            (
                "environments:\n  p: { stages: [ { name: a, require: [ { group: ops } ], timeout: soon } ] }", 6, "environments.p.stages[0].timeout",
                "'soon'"
            ),
            ("environments:\n  p: { on_timeout: approve }", 6, "environments.p.on_timeout", "fail_open_reason"),
            (
                "environments:\n  p:\n    freeze:\n      - { name: x, from: \"2026-12-20T00:00:00\", to: \"2026-12-21T00:00:00Z\" }", 8,
                "environments.p.freeze[0].from", "offset"
            ),
            (
                "environments:\n  p:\n    freeze:\n      - { name: x, from: \"2026-12-21T00:00:00Z\", to: \"2026-12-20T00:00:00Z\" }", 8,
                "environments.p.freeze[0].to", "ends at or before"
            ),
            (
                "environments:\n  p:\n    freeze:\n      - { name: x, weekly: { day: friyay, from: \"14:00\", to: \"18:00\", tz: UTC } }", 8,
                "environments.p.freeze[0].weekly.day", "'friyay' is not a day"
            ),
            (
                "environments:\n  p:\n    freeze:\n      - { name: x, weekly: { day: fri, from: \"2pm\", to: \"18:00\", tz: UTC } }", 8,
                "environments.p.freeze[0].weekly.from", "HH:MM"
            ),
            (
                "environments:\n  p:\n    freeze:\n      - { name: x, weekly: { day: fri, from: \"14:00\", to: \"18:00\", tz: Mars/Olympus } }", 8,
                "environments.p.freeze[0].weekly.tz", "IANA"
            ),
            (
                "environments:\n  p:\n    freeze:\n      - { name: x, weekly: { day: fri, from: \"14:00\", to: \"18:00\" } }", 8,
                "environments.p.freeze[0].weekly.tz", "missing"
            ),
            (
                "environments:\n  p:\n    break_glass: { allowed: [group: nope], max_per_day: 1 }", 7, "environments.p.break_glass.allowed[0].group",
                "does not exist"
            ),
            (
                "environments:\n  p:\n    break_glass: { allowed: [group: ops], max_per_day: 0 }", 7, "environments.p.break_glass.max_per_day",
                "at least 1"
            ),
            ("environments:\n  p:\n    break_glass: { allowed: [group: ops] }", 7, "environments.p.break_glass.max_per_day", "missing"),
            (
                "environments:\n  p:\n    break_glass: { allowed: [group: ops], max_per_day: 1, reason: optional }", 7,
                "environments.p.break_glass.reason",
                "always needs a reason"
            ),
        ])
    func mistakes(body: String, line: Int, key: String, message: String) {
        let yaml = "version: 1\ngroups:\n  ops: { members: [a] }\ndefault: { require: [ { group: ops } ] }\n" + body
        do {
            _ = try PolicyParser(file: "p.yaml").parse(yaml)
            Issue.record("accepted: \(body)")
        } catch {
            #expect(
                error.diagnostics.contains { $0.line == line && $0.key == key && $0.message.contains(message) }, "got: \(error.diagnostics)")
        }
    }

    @Test("policy check warns when a tier lets deploys through without naming the environments")
    func ungatedTierWarning() throws {
        let yaml = """
            groups: { ops: { members: [a] } }
            tiers:
              - { name: flags, when: { labels: { change: flag } }, gate: none }
              - { name: staging-flags, when: { environment: staging, labels: { change: flag } }, gate: none }
            default: { require: [ { group: ops } ] }
            """
        #expect(try PolicyParser(file: "p.yaml").parse(yaml).warnings.map(\.key) == ["tiers.flags.gate"])
    }

    @Test("policy check warns when a production-like environment fails open, and only then")
    func failOpenWarning() throws {
        let yaml = """
            groups: { ops: { members: [a] } }
            environments:
              prod-eu: { on_timeout: approve, fail_open_reason: the region is a read replica }
              staging: { on_timeout: approve, fail_open_reason: no customer data }
            default: { require: [ { group: ops } ] }
            """
        let warnings = try PolicyParser(file: "p.yaml").parse(yaml).warnings
        #expect(warnings.map(\.key) == ["environments.prod-eu.on_timeout"])
        #expect(warnings.first?.message.contains("the region is a read replica") == true)
    }
}
