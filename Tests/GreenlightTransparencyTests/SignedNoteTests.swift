import Foundation
import Testing

@testable import GreenlightTransparency

/// Notes, keys and checkpoints against the example of Go's `golang.org/x/mod/sumdb/note` (its package documentation
/// and note_test.go): the same key must give the same `vkey`, and — Ed25519 being deterministic — the same signature
/// byte for byte.
@Suite("Signed notes and checkpoints (C2SP)")
struct SignedNoteTests {
    static let goSigner = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let goVerifier = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let goText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let goNote =
        goText + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    @Test("Go's signer key gives Go's verifier key and signs Go's note byte for byte")
    func goExample() throws {
        let signer = try NoteSignerKey(Self.goSigner)
        #expect(signer.verifier.description == Self.goVerifier)
        #expect(signer.secretText == Self.goSigner)
        #expect(try signer.sign(Self.goText).encoded == Self.goNote)
        #expect(!signer.description.contains("AYEK"), "a signer key's description must not hold the key")
    }

    @Test("Go's note opens with Go's verifier key; changed by one character, it does not")
    func openGoNote() throws {
        let key = try NoteVerifierKey(Self.goVerifier)
        let note = try SignedNote(parsing: Self.goNote)
        #expect(note.text == Self.goText)
        #expect(try note.open(with: [key]) == [key])
        #expect(note.encoded == Self.goNote)
        let changed = try SignedNote(parsing: Self.goNote.replacingOccurrences(of: "cryptography", with: "cryptographY"))
        #expect(throws: NoteError.badSignature(keyName: "PeterNeumann")) { try changed.open(with: [key]) }
    }

    @Test("signatures by unknown keys are ignored; a note with none by a known key is refused")
    func unknownKeys() throws {
        let known = try NoteVerifierKey(Self.goVerifier)
        let other = try NoteSignerKey(generatingFor: "witness.example/w1")
        var note = try SignedNote(parsing: Self.goNote)
        note.signatures.insert(try other.signature(for: note.text), at: 0)
        // Same name, other key: an unknown key, to be ignored, not a failure.
        let impostor = try NoteSignerKey(generatingFor: "PeterNeumann")
        note.signatures.append(try impostor.signature(for: note.text))
        let reread = try SignedNote(parsing: note.encoded)
        #expect(try reread.open(with: [known]) == [known])
        #expect(try reread.open(with: [known, other.verifier]).count == 2)
        #expect(throws: NoteError.self) { try reread.open(with: [try NoteSignerKey(generatingFor: "nobody.example").verifier]) }
    }

    @Test("a verifier key changed anywhere, or cut short, is refused when read")
    func mangledVerifierKeys() {
        let key = Array(Self.goVerifier.utf8)
        for start in 0..<key.count {
            for end in (start + 1)...key.count where start != 0 || end != key.count {
                let part = String(decoding: key[start..<end], as: UTF8.self)
                #expect(throws: NoteError.self, "\(part)") { try NoteVerifierKey(part) }
            }
        }
        for position in key.indices {
            var changed = key
            changed[position] &+= 1
            let text = String(decoding: changed, as: UTF8.self)
            #expect(throws: NoteError.self, "\(text)") { try NoteVerifierKey(text) }
        }
    }

    @Test(
        "malformed notes are refused with what is wrong",
        arguments: [
            ("no signature block", "text\n"),
            ("no trailing newline", goNote.dropLast().description),
            (
                "no em dash",
                goText + "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            ("a control character", goNote.replacingOccurrences(of: "problem,", with: "problem,\t")),
            (
                "a name with a plus",
                goText + "\n— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            ("not base64", goText + "\n— PeterNeumann not*base64\n"),
            ("a signature too short", goText + "\n— PeterNeumann AAAA\n"),
            (
                "a double space",
                goText + "\n— PeterNeumann  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
        ])
    func malformedNotes(what: String, note: String) {
        #expect(throws: NoteError.self, "\(what)") { try SignedNote(parsing: note) }
    }

    @Test("a note over the limit of signatures or of size is refused")
    func limits() throws {
        let line = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        _ = try SignedNote(parsing: Self.goText + "\n" + String(repeating: line, count: SignedNote.signatureLimit))
        #expect(throws: NoteError.self) {
            try SignedNote(parsing: Self.goText + "\n" + String(repeating: line, count: SignedNote.signatureLimit + 1))
        }
        #expect(throws: NoteError.self) { try SignedNote(parsing: String(repeating: "a", count: SignedNote.sizeLimit) + "\n\n" + line) }
    }

    @Test("a generated key reads back from its text, signs and verifies")
    func generatedKey() throws {
        let signer = try NoteSignerKey(generatingFor: "greenlight.example.com/audit")
        let again = try NoteSignerKey(signer.secretText)
        #expect(again.verifier == signer.verifier)
        #expect(try NoteVerifierKey(signer.verifier.description) == signer.verifier)
        let note = try signer.sign("greenlight.example.com/audit\n0\n\(MerkleTree.emptyRoot.base64)\n")
        #expect(try SignedNote(parsing: note.encoded).open(with: [again.verifier]) == [signer.verifier])
        #expect(throws: NoteError.self) { try NoteSignerKey(generatingFor: "has space") }
        #expect(throws: NoteError.self) { try NoteSignerKey(signer.verifier.description) }
    }

    @Test("a checkpoint's text round-trips, extensions included")
    func checkpointText() throws {
        let root = MerkleTree.leafHash([1, 2, 3])
        let checkpoint = Checkpoint(origin: "greenlight.example.com/audit", size: 1234, root: root, extensions: ["ext one"])
        #expect(checkpoint.text == "greenlight.example.com/audit\n1234\n\(root.base64)\next one\n")
        #expect(try Checkpoint(text: checkpoint.text) == checkpoint)
        let largest = Checkpoint(origin: "o", size: .max, root: root)
        #expect(try Checkpoint(text: largest.text) == largest)
    }

    @Test(
        "checkpoints with a bad size, root or shape are refused",
        arguments: [
            "origin\n12\n",
            "\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            "origin\n012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            "origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            "origin\n+1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            "origin\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            "origin\n12\nAAAA\n",
            "origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
            "origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ])
    func badCheckpoints(text: String) {
        #expect(throws: NoteError.self, "\(text.debugDescription)") { try Checkpoint(text: text) }
    }

    @Test("base64 is read in its one canonical spelling only")
    func strictBase64() {
        #expect(throws: NoteError.self) { try NoteVerifierKey(Self.goVerifier + "=") }
        #expect(throws: NoteError.self) { try SignedNote(parsing: Self.goNote.replacingOccurrences(of: "AM=\n", with: "AM==\n")) }
        #expect(TreeHash(base64: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=") == nil, "stray bits after the last byte")
        #expect(TreeHash(base64: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") != nil)
    }

    @Test("key names compare as bytes: another Unicode spelling of a known name is an unknown key")
    func namesAsBytes() throws {
        let signer = try NoteSignerKey(generatingFor: "caf\u{E9}.example")
        let signature = try signer.signature(for: "text\n")
        let respelled = NoteSignature(keyName: "cafe\u{301}.example", keyID: signature.keyID, signature: signature.signature)
        #expect(respelled.keyName == signer.verifier.name, "Swift's String equality would call them equal")
        let note = SignedNote(text: "text\n", signatures: [respelled])
        #expect(throws: NoteError.noKnownSignature(names: ["cafe\u{301}.example"], known: ["caf\u{E9}.example"])) {
            try note.open(with: [signer.verifier])
        }
    }
}
