import Foundation
import GreenlightWitness
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightTransparency

/// The witness of GreenlightWitness answers as C2SP tlog-witness says, for every check in the order it gives them.
@Suite("Witness (C2SP tlog-witness)")
struct WitnessTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("witness-\(UUID().uuidString)")
    let log: NoteSignerKey
    let witnessKey: NoteSignerKey
    let leaves = (0..<40).map { MerkleTree.leafHash(Array("event \($0)".utf8)) }

    init() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        log = try NoteSignerKey(generatingFor: "greenlight.test/log")
        witnessKey = try NoteSignerKey(generatingFor: "witness.test/w1", type: .cosignatureV1)
    }

    var statePath: String { directory.appendingPathComponent("state").path }

    func witness() throws -> Witness {
        try Witness(key: witnessKey, logs: [log.verifier], statePath: statePath, now: { Date(timeIntervalSince1970: 1_700_000_000) })
    }

    func note(size: Int, leaves: [TreeHash]? = nil, key: NoteSignerKey? = nil) throws -> SignedNote {
        let root = MerkleTree.root(of: (leaves ?? self.leaves).prefix(size))
        return try (key ?? log).sign(Checkpoint(origin: "greenlight.test/log", size: UInt64(size), root: root).text)
    }

    func request(old: Int, size: Int, leaves: [TreeHash]? = nil) throws -> String {
        let proof = try MerkleTree.consistencyProof(from: UInt64(old), to: UInt64(size), leafHashes: leaves ?? self.leaves)
        return AddCheckpointRequest(oldSize: UInt64(old), proof: proof, checkpoint: try note(size: size, leaves: leaves)).encoded
    }

    @Test("cosigns a first checkpoint, then only ones consistent with it; 409 names its size; state survives a restart")
    func protocolAnswers() throws {
        let witness = try witness()
        guard case .cosigned(let lines) = witness.addCheckpoint(try request(old: 0, size: 10)) else { Issue.record("not cosigned"); return }
        // The cosignature line verifies, with the witness's key, on the checkpoint.
        var cosigned = try note(size: 10)
        cosigned.signatures += try SignedNote(parsing: "x\n\n" + lines).signatures
        #expect(try SignedNote(parsing: cosigned.encoded).open(with: [witnessKey.verifier]) == [witnessKey.verifier])
        #expect(NoteVerifierKey.cosignatureTime(cosigned.signatures[1]) == 1_700_000_000)

        #expect(witness.addCheckpoint(try request(old: 0, size: 20)) == .conflict(size: 10))
        #expect(witness.addCheckpoint(try request(old: 5, size: 20)) == .conflict(size: 10))
        guard case .cosigned = witness.addCheckpoint(try request(old: 10, size: 20)) else { Issue.record("not cosigned at 20"); return }
        // The same tree again is cosigned again; another root at the same size is a conflict.
        guard case .cosigned = witness.addCheckpoint(try request(old: 20, size: 20)) else { Issue.record("not re-cosigned"); return }
        var forked = leaves
        forked[3] = MerkleTree.leafHash(Array("rewritten".utf8))
        #expect(witness.addCheckpoint(try request(old: 20, size: 20, leaves: forked)) == .conflict(size: 20))
        // A fork that grows: its proof from 20 does not lead to the root the witness has.
        guard case .refused(422, _) = witness.addCheckpoint(try request(old: 20, size: 30, leaves: forked)) else {
            Issue.record("an inconsistent tree was not refused with 422")
            return
        }
        #expect(witness.cosignedSize(of: "greenlight.test/log") == 20)
        // Rewound below what it cosigned: 409 with its size, whatever old size the log claims.
        #expect(witness.addCheckpoint(try request(old: 0, size: 15)) == .conflict(size: 20))

        let restarted = try self.witness()
        #expect(restarted.cosignedSize(of: "greenlight.test/log") == 20)
        guard case .cosigned = restarted.addCheckpoint(try request(old: 20, size: 40)) else { Issue.record("not cosigned after restart"); return }
        let mode = try FileManager.default.attributesOfItem(atPath: statePath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("refusals: 404 for an unknown log, 403 for a bad signature, 400 for a size out of order or a malformed body")
    func refusals() throws {
        let witness = try witness()
        let stranger = try NoteSignerKey(generatingFor: "greenlight.test/log")
        let unsigned = AddCheckpointRequest(oldSize: 0, proof: [], checkpoint: try note(size: 3, key: stranger)).encoded
        guard case .refused(403, _) = witness.addCheckpoint(unsigned) else { Issue.record("another key's checkpoint was not 403"); return }
        let other = try NoteSignerKey(generatingFor: "other.test/log")
        let otherNote = try other.sign(Checkpoint(origin: "other.test/log", size: 1, root: leaves[0]).text)
        guard case .refused(404, _) = witness.addCheckpoint(AddCheckpointRequest(oldSize: 0, proof: [], checkpoint: otherNote).encoded) else {
            Issue.record("an unknown origin was not 404")
            return
        }
        let backwards = AddCheckpointRequest(oldSize: 5, proof: [], checkpoint: try note(size: 3)).encoded
        guard case .refused(400, _) = witness.addCheckpoint(backwards) else { Issue.record("old above size was not 400"); return }
        guard case .refused(400, _) = witness.addCheckpoint("old 0\n") else { Issue.record("a malformed body was not 400"); return }
        let proofFromZero = AddCheckpointRequest(oldSize: 0, proof: [leaves[0]], checkpoint: try note(size: 3)).encoded
        guard case .refused(422, _) = witness.addCheckpoint(proofFromZero) else { Issue.record("a proof from 0 was not refused"); return }
        #expect(witness.cosignedSize(of: "greenlight.test/log") == nil)
    }

    @Test("over HTTP: 200 with cosignature lines, 409 as text/x.tlog.size, and a body over the limit refused")
    func http() async throws {
        let app = Application(router: WitnessServer.router(try witness()))
        let body = try request(old: 0, size: 8)
        let conflicting = try request(old: 3, size: 8)
        try await app.test(.router) { client in
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).hasPrefix("— witness.test/w1 "))
            }
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(string: conflicting)) { response in
                #expect(response.status == .conflict)
                #expect(response.headers[.contentType] == "text/x.tlog.size")
                #expect(String(buffer: response.body) == "8\n")
            }
            try await client.execute(
                uri: "/add-checkpoint", method: .post, body: ByteBuffer(repeating: 0x41, count: WitnessServer.requestLimit + 1)
            ) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }
}
