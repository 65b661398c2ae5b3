import Foundation
import GreenlightCore
import GreenlightServer
import NIOCore
import Testing

@testable import GreenlightServer

/// Long-polls on the real HTTP server wait in their connection's task, ahead of the router (``LongPollParking``):
/// answered as the route answers them, at once when they may not wait, and the moment the gate is decided.
@Suite("Long-polls parked on the real server", .timeLimit(.minutes(1)))
struct LongPollParkingTests {
    typealias Raw = ConnectionLimitsTests.RawConnection
    let limits = ConnectionLimits(idleTimeout: .seconds(30), requestTimeout: .seconds(30), maximumConnections: 100)

    static func get(_ path: String, token: String?) -> String {
        "GET \(path) HTTP/1.1\r\nHost: t\r\n" + (token.map { "Authorization: Bearer \($0)\r\n" } ?? "") + "\r\n"
    }

    /// A real server over a fresh application with one pending gate, and the `ci` pipeline's token that may read it.
    func withParkingServer(_ body: @Sendable (TestGreenlight, Gate, String, Int) async throws -> Void) async throws {
        let app = try await TestGreenlight()
        let gate = try await BreakGlassAPITests.open(app, environment: "quick")
        let token = try #require(app.secrets["ci"])
        try await ConnectionLimitsTests().withServer(app, limits: limits) { port in try await body(app, gate, token, port) }
    }

    @Test("a parked long-poll is answered the moment its gate is decided, with the gate as the route gives it")
    func answeredOnDecision() async throws {
        try await withParkingServer { app, gate, token, port in
            let poll = try await Raw.connect(port: port)
            try await poll.send(Self.get("/v1/gates/\(gate.id)?wait=300", token: token))
            // Another request on its own connection is answered while the long-poll waits.
            let other = try await Raw.connect(port: port)
            try await other.send(Self.get("/v1/gates/\(gate.id)", token: token))
            await other.received("\"state\":\"pending\"")
            #expect(poll.text.isEmpty, "still waiting: \(poll.text)")
            await app.gatekeeper.waiting.reaches(1)

            _ = try await app.gatekeeper.castVote(.approve, comment: nil, on: gate.id, by: .approver("carol"))
            await poll.received("\"state\":\"approved\"")
            #expect(poll.text.hasPrefix("HTTP/1.1 200"))
            #expect(poll.text.lowercased().contains("content-length:"), "a whole JSON body, as the route writes it")
            #expect(poll.text.contains("\"id\":\"\(gate.id)\""))
            await app.gatekeeper.waiting.reaches(0)

            // The connection is kept alive and serves the next request as usual.
            try await poll.send(Self.get("/healthz", token: nil))
            await poll.received("\"ok\"")
        }
    }

    @Test("what may not wait is answered at once, as the route answers it: no or unknown token, unknown gate, bad wait, decided gate")
    func answeredAtOnce() async throws {
        try await withParkingServer { app, gate, token, port in
            let decided = try await BreakGlassAPITests.open(app, environment: "quick")
            _ = try await app.gatekeeper.castVote(.approve, comment: nil, on: decided.id, by: .approver("carol"))
            let cases: [(String, String?, String)] = [
                ("/v1/gates/\(gate.id)?wait=300", nil, "HTTP/1.1 401"),
                ("/v1/gates/\(gate.id)?wait=300", "glt_not_a_token", "HTTP/1.1 401"),
                ("/v1/gates/g_aaaaaaaaaaaaaaaaaaaa?wait=300", token, "HTTP/1.1 404"),
                ("/v1/gates/\(gate.id)?wait=-1", token, "HTTP/1.1 400"),
                ("/v1/gates/\(gate.id)?wait=1e300", token, "HTTP/1.1 400"),
                ("/v1/gates/\(decided.id)?wait=300", token, "HTTP/1.1 200"),
                // A valid token that may not read this gate (a pipeline scoped to shop in staging).
                ("/v1/gates/\(gate.id)?wait=300", try #require(app.secrets["ci-shop"]), "HTTP/1.1 403"),
            ]
            for (path, token, status) in cases {
                let connection = try await Raw.connect(port: port)
                try await connection.send(Self.get(path, token: token))
                await connection.received("\r\n\r\n")
                #expect(connection.text.hasPrefix(status), "\(path) with \(token ?? "no token"): \(connection.text.prefix(80))")
            }
            #expect(app.gatekeeper.waiting.current == 0)
        }
    }

    @Test("a parked long-poll ends at its wait with the gate as it is, and when the server drains")
    func endsAtItsWait() async throws {
        try await withParkingServer { app, gate, token, port in
            // The wait is timed on the connection's event loop: one real second.
            let short = try await Raw.connect(port: port)
            try await short.send(Self.get("/v1/gates/\(gate.id)?wait=1", token: token))
            await short.received("\"state\":\"pending\"")
            #expect(short.text.hasPrefix("HTTP/1.1 200"))

            let long = try await Raw.connect(port: port)
            try await long.send(Self.get("/v1/gates/\(gate.id)?wait=300", token: token))
            let other = try await Raw.connect(port: port)
            try await other.send(Self.get("/healthz", token: nil))
            await other.received("\"ok\"")
            app.gatekeeper.releaseWaiters()
            await long.received("\"state\":\"pending\"")
            #expect(long.text.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("a client that hangs up while its long-poll is parked stops the wait at once; one that closes its sending side is answered at once")
    func hangUpEndsTheWait() async throws {
        try await withParkingServer { app, gate, token, port in
            // Closed: the wait ends (without it, it would hold its memory for the whole 300 s).
            let gone = try await Raw.connect(port: port)
            try await gone.send(Self.get("/v1/gates/\(gate.id)?wait=300", token: token))
            await app.gatekeeper.waiting.reaches(1)
            try await gone.channel.close()
            await app.gatekeeper.waiting.reaches(0)

            // Half-closed (a FIN): answered with the gate as it is, and the connection closed after it.
            let half = try await Raw.connect(port: port)
            try await half.send(Self.get("/v1/gates/\(gate.id)?wait=300", token: token))
            await app.gatekeeper.waiting.reaches(1)
            try await half.channel.close(mode: .output)
            await half.received("\"state\":\"pending\"")
            #expect(half.text.hasPrefix("HTTP/1.1 200"), "\(half.text.prefix(80))")
            await app.gatekeeper.waiting.reaches(0)

            // Neither left anything behind: the gate is pending, and a vote decides it as usual.
            let change = try await app.gatekeeper.castVote(.approve, comment: nil, on: gate.id, by: .approver("carol"))
            guard case .recorded(let decided) = change else {
                Issue.record("the vote was refused: \(change)")
                return
            }
            #expect(decided.state == .approved)
        }
    }
}
