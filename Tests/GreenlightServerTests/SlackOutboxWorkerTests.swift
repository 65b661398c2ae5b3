import AsyncHTTPClient
import Foundation
import GreenlightCore
import GreenlightSlack
import GreenlightSlackSimulator
import GreenlightStore
import Logging
import Testing

@testable import GreenlightServer

@Suite("Slack outbox worker", .timeLimit(.minutes(1)))
struct SlackOutboxWorkerTests {
    @Test(
        "while chat.update waits out a 429 with two thousand card updates due, a refused clicker's ephemeral goes out at once; the held cards are not rewritten"
    )
    func ephemeralNotStarvedByRateLimitedUpdates() async throws {
        let app = try await TestGreenlight(notifying: [.slack])
        let pipeline = Principal.pipeline(named: "ci")
        let cards = 2_000
        let gates = try await withThrowingTaskGroup(of: GateID.self) { group in
            for index in 0..<cards {
                group.addTask {
                    let request = GateRequest(
                        service: "shop", environment: "quick", artifact: "shop@sha256:1", commit: String(format: "%08x", index + 0x1000_0000))
                    return try await app.gatekeeper.open(request, by: pipeline, idempotencyKey: nil).gate.id
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // Every card posted, then every gate decided: a card update is due for each.
        let posts = try await app.store.dueOutboxItems(at: app.clock.now(), limit: cards * 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, item) in posts.enumerated() {
                group.addTask { try await app.store.completeOutboxItem(item, posted: PostedCard(channel: "C1", ts: "1.\(index)"), audit: nil) }
            }
            try await group.waitForAll()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for gate in gates { group.addTask { _ = try await app.gatekeeper.castVote(.approve, comment: nil, on: gate, by: .approver("carol")) } }
            try await group.waitForAll()
        }
        let notice = EphemeralNotice(channel: "C1", user: "U0MALLORY", text: "not a member of 'leads'")
        try await app.store.enqueueOutboxMessage(.slackEphemeral, gate: gates[0], payload: notice.encoded, at: app.clock.now())
        #expect(try await app.store.dueOutboxItems(at: app.clock.now(), limit: cards * 2).count == cards + 1)

        let slack = SlackSimulator()
        let url = try await slack.start()
        defer { slack.stop() }
        slack.inject(.rateLimited(retryAfter: 30), into: "chat.update", times: 10)
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let worker = DeliveryLoop(
            store: app.store, slack: SlackWebAPI(token: slack.botToken, baseURL: url, http: HTTPClient.shared),
            directory: SlackDirectory(policy: app.gatekeeper.policy), clock: app.clock, publicURL: PublicURL("https://greenlight.example.com"),
            logger: logger)
        // The clock does not move: the 429's 30 seconds never pass, so the ephemeral can only go out if it does not
        // wait for them.
        let running = Task { try await worker.run() }
        await slack.waitForCalls(to: "chat.postEphemeral", count: 1)
        running.cancel()
        try await running.value
        #expect(slack.calls(to: "chat.postEphemeral").first?.arguments["user"] == .string("U0MALLORY"))
        #expect(slack.calls(to: "chat.update").count == 1, "one attempt, then chat.update is held")
        // The held updates stay due as they were (one rescheduled for its Retry-After), not rewritten one by one.
        let due = try await app.store.dueOutboxItems(at: app.clock.now(), limit: cards * 2)
        #expect(due.filter { $0.kind == .slackCard }.count == cards - 1)
        #expect(due.allSatisfy { $0.attempts == 0 })
    }
}
