import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
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
    /// Idle and request timeouts, and the most connections open at once.
    public var connections: ConnectionLimits

    public init(host: String = "127.0.0.1", port: Int = 8080, publicURL: String? = nil, connections: ConnectionLimits = ConnectionLimits()) {
        self.host = host
        self.port = port
        self.publicURL = publicURL
        self.connections = connections
    }
}

/// Builds Greenlight's HTTP application and the workers that run beside it.
public enum GreenlightApplication {
    /// The router with every route, for serving and for tests (`app.test(.router)`).
    ///
    /// - Parameters:
    ///   - store: the store `gatekeeper` was made with; each route is given the role of it that it uses.
    public static func router(
        store: any GateStore, gatekeeper: Gatekeeper, publicURL: PublicURL, slack: SlackIntegration? = nil,
        checkpoints: AuditCheckpoints? = nil, logger: Logger = Logger(label: "greenlight")
    ) -> Router<GreenlightRequestContext> {
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        HealthRoutes(store: store, checkpoints: checkpoints).register(on: router)
        if let slack, let verifier = slack.verifier {
            SlackInteractionRoutes(
                verifier: verifier, approvals: slack.approvals(gatekeeper: gatekeeper, store: store, logger: logger), store: store,
                clock: gatekeeper.clock
            ).register(on: router)
        } else {
            router.post("slack/interactions") { _, _ -> Response in
                throw APIError(
                    .notFound, code: "slack_not_configured",
                    message: "Slack interactions are not set up on this server: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
            }
        }
        let api = router.group("v1").add(middleware: BearerAuthentication(store: store, clock: gatekeeper.clock))
        GateRoutes(gatekeeper: gatekeeper, publicURL: publicURL).register(on: api)
        AuditRoutes(store: store, gatekeeper: gatekeeper, clock: gatekeeper.clock, checkpoints: checkpoints).register(on: api)
        return router
    }

    /// The application: the HTTP server and the deadline timer, with SIGTERM/SIGINT draining in-flight requests.
    ///
    /// - Parameters:
    ///   - store: the store `gatekeeper` was made with, run as a service beside the server.
    ///   - slack: Slack, when configured: cards and messages are then delivered from the store's outbox, user groups
    ///     are read, and interactions acted on.
    ///   - checkpoints: signs the audit log's checkpoints, when the server has a signing key.
    ///   - onListening: called with the base URL once the server accepts connections.
    public static func services(
        store: any GateStore,
        gatekeeper: Gatekeeper,
        settings: ServerSettings,
        slack: SlackIntegration? = nil,
        policyFile: String? = nil,
        checkpoints: AuditCheckpoints? = nil,
        logger: Logger,
        onListening: @escaping @Sendable (String) async -> Void = { _ in }
    ) -> ServiceGroup {
        let publicURL = PublicURL(settings.publicURL ?? "http://\(settings.host):\(settings.port)")
        let configured = settings.publicURL != nil
        let app = Application(
            router: router(store: store, gatekeeper: gatekeeper, publicURL: publicURL, slack: slack, checkpoints: checkpoints, logger: logger),
            server: settings.connections.server(parking: LongPollParking(gatekeeper: gatekeeper, tokens: store)),
            configuration: .init(
                address: .hostname(settings.host, port: settings.port), serverName: "greenlight",
                availableConnectionsDelegate: ConnectionLimit(maximum: settings.connections.maximumConnections, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                let listening = "http://\(settings.host):\(port)"
                if !configured { publicURL.set(listening) }
                await onListening(listening)
            },
            logger: logger
        )
        // The store first, so that it stops last: after everything that writes to it.
        var services: [any Service] = [store, app, DeadlineTimer(gatekeeper: gatekeeper, logger: logger)]
        if let checkpoints { services.append(checkpoints) }
        if let policyFile {
            services.append(
                PolicyReloader(
                    path: policyFile, livePolicy: gatekeeper.livePolicy, store: store, clock: gatekeeper.clock, logger: logger
                ) { [directory = slack?.directory] policy in directory?.replace(policy: policy) })
        } else {
            services.append(HangupWithoutPolicyFile(logger: logger))
        }
        if let slack {
            services.append(
                DeliveryLoop(
                    store: store, slack: slack.api, directory: slack.directory, clock: gatekeeper.clock, publicURL: publicURL,
                    logger: logger))
            services.append(SlackUsergroupSync(slack: slack.api, directory: slack.directory, clock: gatekeeper.clock, logger: logger))
            if let client = slack.socketMode {
                services.append(
                    SlackSocketMode(client: client, approvals: slack.approvals(gatekeeper: gatekeeper, store: store, logger: logger), logger: logger))
            }
        }
        // Shutdown runs in reverse: Socket Mode and the workers and the timer stop (releasing long-polls), then the
        // server drains, finishing the clicks in flight.
        return ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
    }
}
