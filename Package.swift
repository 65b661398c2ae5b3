// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

/// For the libraries others link (the domain, the policy file, the wire shapes, the audit log, the stores, the client):
/// a file uses only what it imports itself, so that each target's dependencies are exactly the ones declared below.
let librarySettings: [SwiftSetting] =
    swiftSettings + [
        .enableUpcomingFeature("MemberImportVisibility")
    ]

let package = Package(
    name: "greenlight",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "greenlight", targets: ["greenlight"]),
        .executable(name: "greenlight-bench", targets: ["GreenlightBenchmarks"]),
        .library(name: "GreenlightCore", targets: ["GreenlightCore"]),
        .library(name: "GreenlightAPI", targets: ["GreenlightAPI"]),
        .library(name: "GreenlightClient", targets: ["GreenlightClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Pure domain: gates, votes, decisions, the policy and its evaluation. Foundation only: no I/O, no frameworks.
        .target(name: "GreenlightCore", swiftSettings: librarySettings),
        // The policy file: `greenlight.yaml` read (Yams) into the domain's `Policy`, its limits, and `policy test` suites.
        .target(
            name: "GreenlightPolicyFile",
            dependencies: [
                "GreenlightCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: librarySettings
        ),
        // The HTTP API's wire shapes (request and response bodies), shared by the server and the client.
        .target(name: "GreenlightAPI", dependencies: ["GreenlightCore"], swiftSettings: librarySettings),
        // The evidence: audit events, their canonical encoding, the hash chain and the events as Merkle log leaves.
        .target(
            name: "GreenlightAudit",
            dependencies: [
                "GreenlightCore",
                "GreenlightTransparency",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: librarySettings
        ),
        // Transparency-log formats, pure: the RFC 6962 Merkle tree and its proofs, C2SP signed notes, checkpoints and
        // their Ed25519 keys. Nothing here reads a store or the network.
        .target(
            name: "GreenlightTransparency",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: librarySettings
        ),
        // A C2SP tlog-witness (add-checkpoint, cosignature v1, its state in a file): for the tests, and for a small
        // deployment with no witness of its own (`greenlight witness`).
        .target(
            name: "GreenlightWitness",
            dependencies: [
                "GreenlightTransparency",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: librarySettings
        ),
        // Durable state, store-neutral: the role protocols a store implements, the transitions every change of a gate is
        // computed as (GateLedger), the stored record format, the outbox's shapes and the change feed.
        .target(
            name: "GreenlightStore",
            dependencies: [
                "GreenlightCore",
                "GreenlightAudit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: librarySettings
        ),
        // The embedded store: one SQLite file in WAL mode, through GRDB.
        .target(
            name: "GreenlightSQLite",
            dependencies: [
                "GreenlightCore",
                "GreenlightAudit",
                "GreenlightStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: librarySettings
        ),
        // The shared store: PostgreSQL through PostgresNIO, for several replicas on one database.
        .target(
            name: "GreenlightPostgres",
            dependencies: [
                "GreenlightCore",
                "GreenlightAudit",
                "GreenlightStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Its pool's error type, for the one case PostgresNIO passes on unwrapped (the circuit breaker).
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: librarySettings
        ),
        // Slack: request signatures, the Block Kit approval card, the Web API client and the Socket Mode client.
        .target(
            name: "GreenlightSlack",
            dependencies: [
                "GreenlightCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test support: Slack on loopback (Web API, signed interactions, Socket Mode), for the tests and for demos.
        .target(
            name: "GreenlightSlackSimulator",
            dependencies: [
                "GreenlightCore",
                "GreenlightSlack",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Hummingbird application: routes, auth, workers, lifecycle.
        .target(
            name: "GreenlightServer",
            dependencies: [
                "GreenlightAPI",
                "GreenlightCore",
                "GreenlightPolicyFile",
                "GreenlightAudit",
                "GreenlightSlack",
                "GreenlightStore",
                "GreenlightTransparency",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A typed client of the HTTP API, with long-poll, reconnect and backoff.
        .target(
            name: "GreenlightClient",
            dependencies: [
                "GreenlightAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: librarySettings
        ),
        .executableTarget(
            name: "greenlight",
            dependencies: [
                "GreenlightAPI",
                "GreenlightCore",
                "GreenlightPolicyFile",
                "GreenlightAudit",
                "GreenlightSlack",
                "GreenlightPostgres",
                "GreenlightSQLite",
                "GreenlightStore",
                "GreenlightServer",
                "GreenlightClient",
                "GreenlightTransparency",
                "GreenlightWitness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test support: a clock that moves by hand, and gate and vote fixtures. Linked by the tests only.
        .target(
            name: "GreenlightTestSupport",
            dependencies: ["GreenlightCore"],
            swiftSettings: librarySettings
        ),
        // `swift run -c release greenlight-bench`: latency and throughput figures for the README.
        .executableTarget(
            name: "GreenlightBenchmarks",
            dependencies: [
                "GreenlightAPI",
                "GreenlightAudit",
                "GreenlightCore",
                "GreenlightPolicyFile",
                "GreenlightSlack",
                "GreenlightSlackSimulator",
                "GreenlightSQLite",
                "GreenlightStore",
                "GreenlightServer",
                "GreenlightClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GreenlightCoreTests",
            dependencies: ["GreenlightCore", "GreenlightPolicyFile", "GreenlightTestSupport", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GreenlightTransparencyTests",
            dependencies: [
                "GreenlightTransparency", "GreenlightTestSupport", "GreenlightWitness",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GreenlightSlackTests",
            dependencies: [
                "GreenlightCore", "GreenlightSlack", "GreenlightSlackSimulator", "GreenlightTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"), .product(name: "WSClient", package: "swift-websocket"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GreenlightStoreTests",
            dependencies: [
                "GreenlightCore", "GreenlightAudit", "GreenlightPostgres", "GreenlightSQLite", "GreenlightStore", "GreenlightTestSupport",
                "GreenlightTransparency",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // The SQLite C API, for the VFS that counts syncs.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GreenlightServerTests",
            dependencies: [
                "GreenlightAPI", "GreenlightCore", "GreenlightPolicyFile", "GreenlightSQLite", "GreenlightStore", "GreenlightServer",
                "GreenlightSlack",
                "GreenlightSlackSimulator", "GreenlightTestSupport", "GreenlightTransparency",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GreenlightEndToEndTests",
            dependencies: [
                "GreenlightAPI", "GreenlightAudit", "GreenlightCore", "GreenlightClient", "GreenlightPolicyFile", "GreenlightSQLite",
                "GreenlightStore",
                "GreenlightSlackSimulator", "GreenlightTestSupport", "GreenlightTransparency",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
