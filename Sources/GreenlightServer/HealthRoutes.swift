import GreenlightStore
import Hummingbird

/// `/healthz` (the process answers) and `/readyz` (and its store can be read, and no witness has refused the audit log
/// as a fork). No token: probes run unauthenticated.
struct HealthRoutes {
    let store: any GateStore
    let checkpoints: AuditCheckpoints?

    struct Status: Encodable {
        var status: String
        var message: String?
    }

    func register(on router: Router<GreenlightRequestContext>) {
        router.get("healthz") { _, _ in JSONResponse.make(Status(status: "ok")) }
        router.get("readyz") { _, context in
            do {
                try await store.checkReachable()
                // Fails safe: decisions recorded in a log its witnesses refuse are evidence nobody can check.
                if let alarm = checkpoints?.forkAlarm {
                    return JSONResponse.make(status: .serviceUnavailable, Status(status: "fork_alarm", message: alarm))
                }
                return JSONResponse.make(Status(status: "ready"))
            } catch {
                context.logger.warning("readiness check failed", metadata: ["error": "\(error)"])
                let message = (error as? StoreError).map { "the store cannot be read: \($0)" } ?? "the store cannot be read"
                return JSONResponse.make(
                    status: .serviceUnavailable, Status(status: "unavailable", message: message),
                    headers: [.retryAfter: "\(JSONErrorMiddleware<GreenlightRequestContext>.unavailableRetryAfter)"])
            }
        }
    }
}
