import Foundation
import GreenlightCore
import GreenlightTransparency

/// An approved gate as a signed, offline-checkable statement an admission controller or deploy step can demand: a
/// DSSE envelope (`application/vnd.in-toto+json`) holding an in-toto Statement v1 about the artifact's digest, with the
/// in-toto *Deployment* predicate scoped to the gate's environment and service, the policy's hash and the decision's
/// `tlog-proof` as its decision details, and the gate's facts under `greenlight`. Signed with the log's key.
public enum DeploymentAttestation {
    public static let payloadType = "application/vnd.in-toto+json"
    public static let statementType = "https://in-toto.io/Statement/v1"
    public static let predicateType = "https://in-toto.io/attestation/deployment/v1"
    /// The scope types Greenlight writes; a verifier refuses any other (the predicate's parsing rules).
    public static let environmentScope = "greenlight.dev/environment/v1"
    public static let serviceScope = "greenlight.dev/service/v1"

    /// An artifact named by digest: `name@sha256:<64 lowercase hex digits>`.
    public struct Subject: Sendable, Equatable {
        public var name: String
        public var sha256: String

        /// Reads a reference; nil unless it names a well-formed SHA-256 digest (a tag alone is not a digest).
        public init?(reference: String) {
            guard let at = reference.lastIndex(of: "@") else { return nil }
            let (name, digest) = (String(reference[..<at]), reference[reference.index(after: at)...])
            guard !name.isEmpty, digest.hasPrefix("sha256:") else { return nil }
            let hex = digest.dropFirst("sha256:".count)
            guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
            self.name = name
            sha256 = String(hex)
        }
    }

    /// The statement's bytes for an approved `gate` whose `gate.decided` event is `decided`, proved by `proof`.
    public static func statement(for gate: Gate, decided: AuditEvent, proof: TransparencyProof) throws(AttestationProblem) -> [UInt8] {
        guard gate.state == .approved else { throw .notApproved("gate \(gate.id) is \(gate.state.rawValue), not approved") }
        guard let subject = Subject(reference: gate.request.artifact) else {
            throw .noDigest(
                "gate \(gate.id)'s artifact '\(gate.request.artifact.prefix(200))' is not named by a sha256 digest (name@sha256:<64 hex digits>): an attestation binds a digest"
            )
        }
        var facts: [String: Any] = [
            "gateId": gate.id.description,
            "service": gate.request.service,
            "environment": gate.request.environment,
            "artifact": gate.request.artifact,
            "commit": gate.request.commit,
            "tier": gate.plan.tier,
            "decision": "approved",
            "approvers": gate.votes.filter { $0.decision == .approve }.map(\.voter),
            "openedBy": gate.openedBy,
            "breakGlass": gate.breakGlass,
            "logIndex": proof.index,
        ]
        if let triggeredBy = gate.request.triggeredBy { facts["triggeredBy"] = triggeredBy }
        if let pullRequest = gate.request.pullRequest { facts["pullRequest"] = pullRequest }
        if let ticket = gate.request.ticket { facts["ticket"] = ticket }
        let predicate: [String: Any] = [
            "creationTime": Timestamp.format(decided.at),
            "scopes": [environmentScope: gate.request.environment, serviceScope: gate.request.service],
            "decisionDetails": [
                "policy": [["name": "greenlight policy", "digest": ["sha256": gate.plan.policyHash]]],
                "evidence": [
                    [
                        "name": "\(gate.id).tlog-proof",
                        "mediaType": "text/plain; charset=utf-8",
                        "content": Data(proof.encoded.utf8).base64EncodedString(),
                        "annotations": ["logIndex": proof.index],
                    ]
                ],
            ],
            "greenlight": facts,
        ]
        let statement: [String: Any] = [
            "_type": statementType,
            "subject": [["name": subject.name, "digest": ["sha256": subject.sha256]]],
            "predicateType": predicateType,
            "predicate": predicate,
        ]
        do {
            return Array(try JSONSerialization.data(withJSONObject: statement, options: [.sortedKeys, .withoutEscapingSlashes]))
        } catch {
            throw .malformed("the statement could not be encoded: \(error)")
        }
    }

    /// What a verified attestation says.
    public struct Verified: Sendable {
        public var gateID: String
        public var approvers: [String]
        public var subject: Subject
        public var environment: String
        /// The decision's proof, checked against the same key, when the attestation carries one.
        public var logIndex: UInt64?
    }

    /// Checks `envelope` (its JSON) for deploying `artifact` to `environment`: the signature of `key`, the statement's
    /// types, the digest, the scopes (every one known, the environment's equal), the decision approved, and the
    /// embedded decision proof. Throws naming the first check that fails.
    public static func verify(
        _ envelope: [UInt8], key: NoteVerifierKey, artifact: String, environment: String,
        witnesses: WitnessPolicy = WitnessPolicy(witnesses: [], quorum: .none)
    ) throws(AttestationProblem) -> Verified {
        guard let wanted = Subject(reference: artifact) else {
            throw .malformed("--artifact '\(artifact.prefix(200))' is not name@sha256:<64 lowercase hex digits>")
        }
        let parsed: DSSEEnvelope
        do { parsed = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(envelope)) } catch {
            throw .malformed("not a DSSE envelope (JSON with payload, payloadType and signatures)")
        }
        guard parsed.payloadType == payloadType else { throw .malformed("the payload type is '\(parsed.payloadType)', not \(payloadType)") }
        let payload: [UInt8]
        do { payload = try parsed.verifiedPayload(key: key) } catch { throw .signature(error.description) }
        guard let statement = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
            statement["_type"] as? String == statementType, statement["predicateType"] as? String == predicateType,
            let predicate = statement["predicate"] as? [String: Any], let subjects = statement["subject"] as? [[String: Any]]
        else { throw .malformed("the payload is not an in-toto Statement v1 with the Deployment predicate") }
        let named = subjects.compactMap { subject -> Subject? in
            guard let name = subject["name"] as? String, let digest = (subject["digest"] as? [String: String])?["sha256"] else { return nil }
            return Subject(reference: "\(name)@sha256:\(digest)")
        }
        guard named.contains(wanted) else {
            let attested = named.map { "\($0.name)@sha256:\($0.sha256)" }.joined(separator: ", ")
            throw .mismatch("the attestation is for \(attested.isEmpty ? "no artifact" : attested), not \(artifact)")
        }
        let scopes = predicate["scopes"] as? [String: String] ?? [:]
        if let unknown = scopes.keys.sorted().first(where: { $0 != environmentScope && $0 != serviceScope }) {
            throw .mismatch("the attestation has the scope type '\(unknown)', which this verifier does not know")
        }
        guard let attestedEnvironment = scopes[environmentScope], !attestedEnvironment.isEmpty else {
            throw .mismatch("the attestation names no environment (\(environmentScope))")
        }
        guard attestedEnvironment == environment else {
            throw .mismatch("the attestation is for the environment '\(attestedEnvironment)', not '\(environment)'")
        }
        guard let facts = predicate["greenlight"] as? [String: Any], facts["decision"] as? String == "approved",
            let gateID = facts["gateId"] as? String
        else { throw .notApproved("the attestation does not say the gate was approved") }
        // The decision proof it carries: that the approval, of this artifact for this environment by these people, is
        // in the log this key signs. Required: without it the signature alone would vouch for the statement.
        let evidence = (predicate["decisionDetails"] as? [String: Any])?["evidence"] as? [[String: Any]] ?? []
        guard let content = evidence.first(where: { ($0["name"] as? String)?.hasSuffix(".tlog-proof") == true })?["content"] as? String else {
            throw .proof("the attestation carries no decision proof (.tlog-proof)")
        }
        guard let data = Data(base64Encoded: content), let text = String(data: data, encoding: .utf8) else {
            throw .malformed("the decision proof in the attestation is not base64 text")
        }
        let proved: DecisionProof.Verified
        do {
            proved = try DecisionProof.check(text, log: key, witnesses: witnesses)
        } catch {
            throw .proof(error.description)
        }
        let event = proved.event
        guard event.gateID == gateID, event.details["state"] == "approved" else {
            throw .proof("the decision proved is gate \(event.gateID ?? "?")'s \(event.details["state"] ?? "?"), not gate \(gateID)'s approval")
        }
        guard let recorded = event.artifact.flatMap(Subject.init(reference:)), recorded == wanted else {
            throw .proof("the log's decision is about \(event.artifact ?? "no artifact"), not \(artifact)")
        }
        guard event.environment == environment else {
            throw .proof("the log's decision is for the environment '\(event.environment ?? "")', not '\(environment)'")
        }
        let approvers = facts["approvers"] as? [String] ?? []
        guard (event.details["approvals"] ?? "") == approvers.joined(separator: ", ") else {
            throw .proof(
                "the log's decision was approved by '\(event.details["approvals"] ?? "")', the attestation says '\(approvers.joined(separator: ", "))'"
            )
        }
        let logIndex: UInt64? = UInt64(event.sequence - 1)
        return Verified(gateID: gateID, approvers: approvers, subject: wanted, environment: attestedEnvironment, logIndex: logIndex)
    }
}

/// Why there is no attestation, or why one does not check out.
public enum AttestationProblem: Error, Equatable, CustomStringConvertible {
    case notApproved(String)
    case noDigest(String)
    case malformed(String)
    case signature(String)
    case mismatch(String)
    case proof(String)

    public var description: String {
        switch self {
        case .notApproved(let why): "not approved: \(why)"
        case .noDigest(let why): "no digest: \(why)"
        case .malformed(let why): "not an attestation: \(why)"
        case .signature(let why): "bad signature: \(why)"
        case .mismatch(let why): "does not match: \(why)"
        case .proof(let why): "the decision proof fails: \(why)"
        }
    }
}
