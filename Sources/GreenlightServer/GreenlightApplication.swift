import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Hummingbird
import Logging
import ServiceLifecycle

/// How `greenlight serve` is set up.
public struct ServerSettings: Sendable {
    public var host: String
    /// 0 picks a free port (the tests use it); the chosen port is announced through `onListening`.
    public var port: Int
    /// The URL people use to reach the server, if not `http://host:port` (behind a proxy, say).
    public var publicURL: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, publicURL: String? = nil) {
        self.host = host
        self.port = port
        self.publicURL = publicURL
    }
}

/// Builds Greenlight's HTTP application and the workers that run beside it.
public enum GreenlightApplication {
    /// The router with every route, for serving and for tests (`app.test(.router)`).
    public static func router(gatekeeper: Gatekeeper, publicURL: PublicURL) -> Router<GreenlightRequestContext> {
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        HealthRoutes(store: gatekeeper.store).register(on: router)
        let api = router.group("v1").add(middleware: BearerAuthentication(store: gatekeeper.store))
        GateRoutes(gatekeeper: gatekeeper, publicURL: publicURL).register(on: api)
        AuditRoutes(store: gatekeeper.store, clock: gatekeeper.clock).register(on: api)
        return router
    }

    /// The application: the HTTP server and the deadline timer, with SIGTERM/SIGINT draining in-flight requests.
    ///
    /// - Parameter onListening: called with the base URL once the server accepts connections.
    public static func services(
        gatekeeper: Gatekeeper,
        settings: ServerSettings,
        logger: Logger,
        onListening: @escaping @Sendable (String) async -> Void = { _ in }
    ) -> ServiceGroup {
        let publicURL = PublicURL(settings.publicURL ?? "http://\(settings.host):\(settings.port)")
        let configured = settings.publicURL != nil
        let app = Application(
            router: router(gatekeeper: gatekeeper, publicURL: publicURL),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "greenlight"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                let listening = "http://\(settings.host):\(port)"
                if !configured { publicURL.set(listening) }
                await onListening(listening)
            },
            logger: logger
        )
        // Shutdown runs in reverse: the timer first (releasing long-polls), then the server drains.
        return ServiceGroup(
            configuration: .init(
                services: [app, DeadlineTimer(gatekeeper: gatekeeper, logger: logger)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
    }
}
