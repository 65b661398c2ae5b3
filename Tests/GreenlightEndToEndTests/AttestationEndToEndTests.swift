import Foundation
import GreenlightAPI
import GreenlightTestSupport
import GreenlightTransparency
import Testing

/// Approvals as signed attestations, with the real binary: `attest fetch` gets the DSSE envelope of an approved gate,
/// `attest verify` and securesystemslib's DSSE verifier (scripts/verify-attestation.py) accept it for its digest and
/// environment, and refuse it for anything else.
@Suite("Attestations, end to end")
struct AttestationEndToEndTests {
    static let digest = String(repeating: "4f1e", count: 16)
    static let artifact = "registry.example.com/shop@sha256:\(digest)"

    @Test("an approved gate's attestation verifies here and independently; another digest, environment, signer or edit does not")
    func attestation() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start()
        let banner = try #require(await server.line(containing: "verifier key "))
        let vkey = try #require(banner.components(separatedBy: "verifier key ").last)
        // The key was made on first start, beside the database, readable by its owner only.
        let keyFile = deployment.directory.appendingPathComponent("greenlight-signing.key").path
        #expect((try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int) == 0o600)

        let opened = try await deployment.run(
            ["request", "--service", "shop", "--env", "production", "--artifact", Self.artifact, "--commit", "0123abcd", "--json"], as: "ci")
        let gate = try JSONDecoder().decode(GateResource.self, from: Data(opened.stdout.utf8))
        let early = try await deployment.run(["attest", "fetch", gate.id], as: "ci")
        #expect(early.status != 0 && early.stderr.contains("pending"), "\(early.output)")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["approve", gate.id], as: "bob").status == 0)

        let file = deployment.directory.appendingPathComponent("shop.intoto.json").path
        let fetched = try await deployment.run(["attest", "fetch", gate.id, "--output", file], as: "ci")
        #expect(fetched.status == 0, "\(fetched.output)")
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        #expect(envelope["payloadType"] as? String == "application/vnd.in-toto+json")

        let attestationFile = file
        func verify(
            _ artifact: String = Self.artifact, environment: String = "production", key: String? = nil, file: String? = nil
        ) async throws
            -> RunningCommand.Finished
        {
            try await RunningCommand([
                "attest", "verify", "--artifact", artifact, "--environment", environment, "--attestation", file ?? attestationFile, "--key",
                key ?? vkey,
            ]).finished()
        }
        let good = try await verify()
        #expect(good.status == 0 && good.stdout.contains("ok: gate \(gate.id) approved") && good.stdout.contains("alice, bob"), "\(good.output)")
        let independent = try RepositoryScript.python(
            "verify-attestation.py", ["--key", vkey, "--attestation", file, "--artifact", Self.artifact, "--environment", "production"])
        #expect(independent.status == 0, "\(independent.output)")

        let otherDigest = "registry.example.com/shop@sha256:" + String(repeating: "0", count: 64)
        let stranger = try NoteSignerKey(generatingFor: vkey.components(separatedBy: "+")[0]).verifier.description
        for (what, result, message) in [
            ("another digest", try await verify(otherDigest), "does not match"),
            ("another environment", try await verify(environment: "staging"), "not 'staging'"),
            ("another signer", try await verify(key: stranger), "bad signature"),
            ("a tag", try await verify("registry.example.com/shop:1.2"), "not name@sha256"),
        ] {
            #expect(result.status == 1 && result.stderr.contains(message), "\(what): \(result.output)")
        }
        #expect(
            try RepositoryScript.python(
                "verify-attestation.py", ["--key", vkey, "--attestation", file, "--artifact", otherDigest, "--environment", "production"]
            ).status == 1)
        // The statement edited (the environment changed), the signature kept.
        var edited = envelope
        let encodedPayload = try #require(envelope["payload"] as? String)
        let payload = try #require(Data(base64Encoded: encodedPayload))
        edited["payload"] = Data(String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "\"production\"", with: "\"staging\"").utf8)
            .base64EncodedString()
        let editedFile = deployment.directory.appendingPathComponent("edited.json").path
        try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: editedFile))
        let refused = try await verify(environment: "staging", file: editedFile)
        #expect(refused.status == 1 && refused.stderr.contains("bad signature"), "\(refused.output)")
        #expect(
            try RepositoryScript.python(
                "verify-attestation.py", ["--key", vkey, "--attestation", editedFile, "--artifact", Self.artifact, "--environment", "staging"]
            ).status == 1)

        // A rejected gate, and one for a tag, get none.
        let rejected = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["reject", rejected.id, "--comment", "no"], as: "alice").status == 0)
        let none = try await deployment.run(["attest", "fetch", rejected.id], as: "ci")
        #expect(none.status != 0 && none.stderr.contains("not approved"), "\(none.output)")
        let tagged = try await deployment.open(environment: "quick")
        _ = try await deployment.run(["approve", tagged.id], as: "alice")
        let noDigest = try await deployment.run(["attest", "fetch", tagged.id], as: "ci")
        #expect(noDigest.status != 0 && noDigest.stderr.contains("no digest"), "\(noDigest.output)")
    }
}
