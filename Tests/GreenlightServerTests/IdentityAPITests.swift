import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightServer

/// The separation-of-duties bypass an attack found: an author named with white space around it did not resolve to
/// the person, so only the raw string was barred and the author approved their own change.
@Suite("Identities over HTTP")
struct IdentityAPITests {
    /// JSON string escapes for the spellings: a trailing space, tab, newline, CRLF, no-break space, a leading space.
    static let spellings = [#"alice-gh "#, #"alice-gh\t"#, #"alice-gh\n"#, #"alice-gh\r\n"#, #"alice-gh\u00a0"#, #" alice-gh"#, #"ALICE-GH"#]

    @Test("an author named with surrounding white space or in another case is still barred", arguments: spellings)
    func authorBarred(spelling: String) async throws {
        let app = try await TestGreenlight()
        let json = #"{"service":"shop","environment":"quick","artifact":"a@sha256:1","commit":"0123abcd","authors":["\#(spelling)"]}"#
        try await app.test { client in
            let gate = try await client.openGate(app, json: json)
            #expect(gate.excluded.map(\.identity).contains("alice"), "\(gate.excluded)")
            let vote = try await client.vote(app, gate.id, as: "alice")
            #expect(vote.status == .forbidden)
            #expect(vote.error?.error == "separation_of_duties")
        }
    }

    @Test("a triggerer named with white space is barred too, and the stored request holds the normalised name")
    func triggererBarred() async throws {
        let app = try await TestGreenlight()
        let json = #"{"service":"shop","environment":"quick","artifact":"a@sha256:1","commit":"0123abcd","triggered_by":"\u00a0bob\t"}"#
        try await app.test { client in
            let gate = try await client.openGate(app, json: json)
            let vote = try await client.vote(app, gate.id, as: "bob")
            #expect(vote.error?.error == "separation_of_duties")
            #expect(try await app.store.gate(GateID(unchecked: gate.id))?.request.triggeredBy == "bob")
        }
    }

    @Test(
        "identities that cannot be matched safely are 422, naming the field, and open nothing",
        arguments: [#"alice\u200b-gh"#, #"ａｌｉｃｅ-gh"#, #"\u0430lice-gh"#, #"alice-gh\u202e"#, #"  "#])
    func refused(spelling: String) async throws {
        let app = try await TestGreenlight()
        let json = #"{"service":"shop","environment":"quick","artifact":"a@sha256:1","commit":"0123abcd","authors":["bob","\#(spelling)"]}"#
        try await app.test { client in
            try await client.execute(uri: "/v1/gates", method: .post, headers: app.headers("ci"), body: TestGreenlight.body(json)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.error?.message.contains("authors[1]") == true, "\(String(buffer: response.body))")
            }
        }
        #expect(try await app.store.auditEvents(AuditQuery(action: AuditAction.gateOpened.rawValue)).isEmpty)
    }

    @Test("break-glass: a holder named as an author with white space around it may not break glass on the deploy")
    func breakGlassBarred() async throws {
        let app = try await TestGreenlight()
        let json = #"{"service":"shop","environment":"hotfix","artifact":"a@sha256:1","commit":"0123abcd","authors":[" carol"]}"#
        try await app.test { client in
            let gate = try await client.openGate(app, json: json)
            try await client.execute(
                uri: "/v1/gates/\(gate.id)/break-glass", method: .post, headers: app.headers("carol"),
                body: TestGreenlight.body(#"{"reason":"SEV1"}"#)
            ) { response in
                #expect(response.status == .forbidden)
                #expect(response.error?.error == "separation_of_duties", "\(String(buffer: response.body))")
            }
            #expect(try await app.store.gate(GateID(unchecked: gate.id))?.state == .pending)
        }
    }
}
