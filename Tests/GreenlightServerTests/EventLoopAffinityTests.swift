import Dispatch
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import GreenlightServer

/// `http1OnEventLoop`: a connection's requests run on the event loop that reads them, and come back to it after
/// awaiting work elsewhere (the store's writer queue), instead of hopping to the global pool.
@Suite("Requests on their connection's event loop")
struct EventLoopAffinityTests {
    @Test("a handler runs on an event loop, before and after awaiting a dispatch queue, over real HTTP")
    func handlerStaysOnEventLoop() async throws {
        let router = Router()
        router.get("/where") { _, _ -> String in
            let before = MultiThreadedEventLoopGroup.currentEventLoop
            // Resumed from another thread, as a GRDB write's continuation is.
            await withCheckedContinuation { continuation in
                DispatchQueue(label: "elsewhere").async { continuation.resume() }
            }
            let after = MultiThreadedEventLoopGroup.currentEventLoop
            return "\(before != nil) \(after != nil) \(before === after)"
        }
        let app = Application(router: router, server: .http1OnEventLoop(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await client.execute(uri: "/where", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "true true true")
            }
        }
    }
}
