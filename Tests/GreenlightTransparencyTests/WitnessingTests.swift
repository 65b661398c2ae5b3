import Foundation
import Testing

@testable import GreenlightTransparency

@Suite("Cosignatures, witness requests, proofs and policies (C2SP)")
struct WitnessingTests {
    static let checkpointText = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

    @Test("a cosignature v1 signs 'cosignature/v1', its time and the checkpoint; its key has type 0x04 and its own key ID")
    func cosignature() throws {
        let witness = try NoteSignerKey(generatingFor: "witness.example/w1", type: .cosignatureV1)
        let vkey = try NoteVerifierKey(witness.verifier.description)
        #expect(vkey == witness.verifier && vkey.type == .cosignatureV1)
        #expect(try NoteSignerKey(witness.secretText).verifier == witness.verifier)
        let cosignature = try witness.cosignature(for: Self.checkpointText, at: 1_679_315_147)
        #expect(cosignature.signature.count == 72)
        #expect(Array(cosignature.signature.prefix(8)) == [0, 0, 0, 0, 0x64, 0x18, 0x50, 0xCB])
        #expect(NoteVerifierKey.cosignatureTime(cosignature) == 1_679_315_147)
        #expect(vkey.isValidSignature(cosignature, for: Self.checkpointText))
        // The same public key as a log's (type 0x01) has another key ID, and does not take the cosignature.
        #expect(!vkey.isValidSignature(cosignature, for: Self.checkpointText.replacingOccurrences(of: "20852163", with: "20852164")))
        var retimed = cosignature
        retimed.signature[7] ^= 1
        #expect(!vkey.isValidSignature(retimed, for: Self.checkpointText))
        #expect(throws: NoteError.self) { try witness.signature(for: Self.checkpointText) }
        let log = try NoteSignerKey(generatingFor: "example.com/behind-the-sofa")
        #expect(throws: NoteError.self) { try log.cosignature(for: Self.checkpointText, at: 1) }
        // A note with the log's signature and the cosignature opens with either key.
        var note = try log.sign(Self.checkpointText)
        note.signatures.append(cosignature)
        let reread = try SignedNote(parsing: note.encoded)
        #expect(try reread.open(with: [log.verifier, vkey]) == [log.verifier, vkey])
    }

    @Test("add-checkpoint bodies: the old size, the proof lines, a blank line and the note; malformed ones refused")
    func addCheckpoint() throws {
        let log = try NoteSignerKey(generatingFor: "example.com/behind-the-sofa")
        let note = try log.sign(Self.checkpointText)
        let proof = [MerkleTree.leafHash([1]), MerkleTree.leafHash([2])]
        let request = AddCheckpointRequest(oldSize: 20_852_014, proof: proof, checkpoint: note)
        #expect(request.encoded.hasPrefix("old 20852014\n\(proof[0].base64)\n\(proof[1].base64)\n\nexample.com/behind-the-sofa\n"))
        #expect(try AddCheckpointRequest(parsing: request.encoded) == request)
        #expect(try AddCheckpointRequest(parsing: "old 0\n\n" + note.encoded).proof.isEmpty)
        for bad in [
            "old 01\n\n", "old -1\n\n", "new 0\n\n", "old 0\n", "old 0\nnotbase64\n\n", "old 18446744073709551616\n\n",
            "old 0\n" + String(repeating: proof[0].base64 + "\n", count: 64) + "\n",
        ] {
            #expect(throws: NoteError.self, "\(bad.prefix(20))") { try AddCheckpointRequest(parsing: bad + note.encoded) }
        }
    }

    @Test("a tlog-proof: header, extra, index, proof lines, blank line, checkpoint — read back as written")
    func transparencyProof() throws {
        let log = try NoteSignerKey(generatingFor: "example.com/fancylog")
        let note = try log.sign("example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n")
        let proof = TransparencyProof(extra: Array("{\"a\":1}".utf8), index: 73_894, proof: [MerkleTree.leafHash([1])], checkpoint: note)
        #expect(proof.encoded.hasPrefix("c2sp.org/tlog-proof@v1\nextra eyJhIjoxfQ==\nindex 73894\n"))
        #expect(try TransparencyProof(parsing: proof.encoded) == proof)
        let bare = TransparencyProof(extra: nil, index: 0, proof: [], checkpoint: note)
        #expect(bare.encoded.hasPrefix("c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/fancylog\n"))
        #expect(try TransparencyProof(parsing: bare.encoded) == bare)
        for bad in ["c2sp.org/tlog-proof@v2\nindex 0\n\n", "c2sp.org/tlog-proof@v1\nindex 00\n\n", "c2sp.org/tlog-proof@v1\nextra !\nindex 0\n\n"] {
            #expect(throws: NoteError.self) { try TransparencyProof(parsing: bad + note.encoded) }
        }
    }

    @Test("tlog-policy: the specification's example reads, quorums count groups of groups, and mistakes name their line")
    func policy() throws {
        let keys = try (0..<6).map { try NoteSignerKey(generatingFor: "w\($0).example", type: .cosignatureV1).verifier }
        let log = try NoteSignerKey(generatingFor: "example.com/log").verifier
        let text = """
            log \(log)
            # two organisations
            witness X1 \(keys[0]) https://x1.example/
            witness X2 \(keys[1])
            witness X3 \(keys[2])
            group X-witnesses 2 X1 X2 X3

            \twitness Y1 \(keys[3])\t
            witness Y2 \(keys[4])
            witness Y3 \(keys[5])
            group Y-witnesses any Y1 Y2 Y3

            group X-and-Y all X-witnesses Y-witnesses
            quorum X-and-Y
            """
        let policy = try WitnessPolicy(parsing: text)
        #expect(policy.logs == [log] && policy.witnesses.count == 6 && policy.witnesses[0].url == "https://x1.example/")
        #expect(policy.isSatisfied(byWitnessesNamed: ["X1", "X3", "Y2"]))
        #expect(!policy.isSatisfied(byWitnessesNamed: ["X1", "Y2", "Y3"]))
        #expect(!policy.isSatisfied(byWitnessesNamed: ["X1", "X2", "X3"]))
        #expect(try WitnessPolicy(parsing: "quorum none").isSatisfied(byWitnessesNamed: []))
        #expect(WitnessPolicy.all(of: Array(keys.prefix(2))).isSatisfied(byWitnessesNamed: ["w0.example", "w1.example"]))
        #expect(!WitnessPolicy.all(of: Array(keys.prefix(2))).isSatisfied(byWitnessesNamed: ["w0.example"]))

        let refusals: [(String, String)] = [
            ("witness A \(keys[0])\nquorum B", "line 2: B is not a witness or group defined above"),
            ("witness A \(keys[0])\nwitness B \(keys[0])\nquorum A", "line 2: the key of B is listed twice"),
            ("witness A \(keys[0])\ngroup G 2 A\nquorum G", "line 2: the threshold '2' is not all, any or a number from 1 to 1"),
            ("witness A \(keys[0])\ngroup G any A A\nquorum G", "line 2: A is a member twice"),
            ("witness A \(keys[0])", "no quorum line"),
            ("witness A \(log)\nquorum A", "line 1: the key of witness A is not a cosignature key"),
            ("witness none \(keys[0])\nquorum none", "line 1: the name none is already defined"),
            ("quorum none\nquorum none", "line 2: a policy has one quorum line"),
            ("witness A \(keys[0])\ngroup G any none\nquorum G", "line 2: none is not a witness or group"),
            ("witnes A \(keys[0])\nquorum none", "line 1: unknown keyword 'witnes'"),
            ("quorum none\r", "line 1: the control character U+000D"),
        ]
        for (text, message) in refusals {
            do {
                _ = try WitnessPolicy(parsing: text)
                Issue.record("read: \(text)")
            } catch {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }

    @Test("a witness's bad cosignature refuses the note; an unknown witness's is ignored")
    func cosigners() throws {
        let log = try NoteSignerKey(generatingFor: "example.com/behind-the-sofa")
        let w1 = try NoteSignerKey(generatingFor: "w1.example", type: .cosignatureV1)
        let w2 = try NoteSignerKey(generatingFor: "w2.example", type: .cosignatureV1)
        let stranger = try NoteSignerKey(generatingFor: "stranger.example", type: .cosignatureV1)
        var note = try log.sign(Self.checkpointText)
        note.signatures += [try w1.cosignature(for: note.text, at: 5), try stranger.cosignature(for: note.text, at: 5)]
        let policy = WitnessPolicy.all(of: [w1.verifier, w2.verifier])
        #expect(try policy.cosigners(of: note) == ["w1.example"])
        note.signatures.append(try w2.cosignature(for: note.text + "x\n", at: 5))
        #expect(throws: NoteError.badSignature(keyName: "w2.example")) { try policy.cosigners(of: note) }
    }

    @Test("DSSE: the pre-authentication encoding of the specification's example; a signature binds the type and the payload")
    func dsse() throws {
        let encoding = DSSEEnvelope.preAuthenticationEncoding(type: "http://example.com/HelloWorld", payload: Array("hello world".utf8))
        #expect(String(decoding: encoding, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
        let key = try NoteSignerKey(generatingFor: "greenlight.test/log")
        let envelope = try DSSEEnvelope(payload: Array("{}".utf8), type: "application/vnd.in-toto+json", signedBy: key)
        #expect(envelope.signatures.map(\.keyid) == ["greenlight.test/log+\(NoteVerifierKey.hex(key.verifier.keyID))"])
        #expect(try envelope.verifiedPayload(key: key.verifier) == Array("{}".utf8))
        var retyped = envelope
        retyped.payloadType = "application/json"
        #expect(throws: NoteError.badSignature(keyName: "greenlight.test/log")) { try retyped.verifiedPayload(key: key.verifier) }
        let other = try NoteSignerKey(generatingFor: "greenlight.test/other")
        #expect(throws: NoteError.self) { try envelope.verifiedPayload(key: other.verifier) }
        #expect(throws: NoteError.self) {
            try DSSEEnvelope(payload: [], type: "x", signedBy: try NoteSignerKey(generatingFor: "w", type: .cosignatureV1))
        }
    }
}
