import Foundation
import GreenlightCore
import GreenlightSlackSimulator
import Testing

@testable import GreenlightSlack

@Suite("Slack interaction payloads")
struct SlackInteractionTests {
    @Test("the block_actions form body of protocols.md 1.2 decodes to a click")
    func blockActionsVector() throws {
        let interaction = try SlackInteraction.decode(formBody: Data(SlackRequestVerifierTests.blockActionsBody.utf8))
        guard case .buttonClick(let click) = interaction else {
            Issue.record("not a click: \(interaction)")
            return
        }
        #expect(click.userID == "U123APPROVER")
        #expect(click.userName == "alice")
        #expect(click.actionID == "deploy_approve")
        #expect(click.value == "gate-42")
        #expect(click.channelID == "C123")
        #expect(click.messageTS == "1700000000.000100")
        #expect(click.triggerID == "111.222.abc")
        #expect(click.deliveryKey == "U123APPROVER|1700000000.000100|deploy_approve|1700000001.000200")
    }

    @Test("the simulator's signed click decodes to what it describes")
    func simulatorClick() throws {
        let slack = SlackSimulator()
        let payload = SlackSimulator.blockActions(
            user: "U01ALICE", actionID: "gate_reject", value: "g_aaaaaaaaaaaaaaaaaaaa", channel: "C0DEPLOYS", ts: "1.2")
        let (body, _) = try slack.signedRequest(payload: payload, timestamp: Date())
        let interaction = try SlackInteraction.decode(formBody: Data(body.utf8))
        guard case .buttonClick(let click) = interaction else {
            Issue.record("not a click")
            return
        }
        #expect(click.actionID == "gate_reject")
        #expect(click.value == "g_aaaaaaaaaaaaaaaaaaaa")
    }

    @Test("a submitted reject-reason modal decodes with its metadata and input values")
    func viewSubmission() throws {
        let payload: [String: JSONValue] = [
            "type": .string("view_submission"),
            "user": .object(["id": .string("U01ALICE")]),
            "view": .object([
                "id": .string("V0SIM"), "callback_id": .string("gate_reject_reason"), "private_metadata": .string("g_aaaaaaaaaaaaaaaaaaaa"),
                "state": .object([
                    "values": .object([
                        "reason": .object(["reason_input": .object(["type": .string("plain_text_input"), "value": .string("not during the sale")])])
                    ])
                ]),
            ]),
        ]
        let interaction = try SlackInteraction.decode(payload: payload)
        #expect(
            interaction
                == .viewSubmission(
                    .init(
                        userID: "U01ALICE", viewID: "V0SIM", callbackID: "gate_reject_reason", privateMetadata: "g_aaaaaaaaaaaaaaaaaaaa",
                        values: ["reason.reason_input": "not during the sale"])))
    }

    @Test(
        "bad bodies say what was wrong",
        arguments: [
            ("token=abc", SlackInteractionError.noPayload),
            ("payload=not%20json", .invalidJSON),
            ("payload=%7B%22type%22%3A%22block_actions%22%7D", .missingField("user")),
            ("payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D", .missingField("actions[0]")),
            ("payload=%7B%22type%22%3A%22shortcut%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D", .unsupportedType("shortcut")),
            (
                "payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22gate_approve%22%7D%5D%7D",
                .missingField("actions[0].value")
            ),
        ]
    )
    func badBodies(body: String, error: SlackInteractionError) {
        #expect(throws: error) { try SlackInteraction.decode(formBody: Data(body.utf8)) }
    }
}

@Suite("Form fields")
struct FormFieldTests {
    @Test("a form field is read on bytes: + is a space, %XX a byte, a broken escape is no value")
    func decoding() {
        #expect(FormField.value(of: "payload", in: Array("a=1&payload=%7B%22x%22%3A%22a+b%2Bc%22%7D".utf8)) == Array(#"{"x":"a b+c"}"#.utf8))
        #expect(FormField.value(of: "payload", in: Array("payloads=1".utf8)) == nil)
        #expect(FormField.value(of: "payload", in: Array("payload=%7".utf8)) == nil)
        #expect(FormField.value(of: "payload", in: Array("payload=%zz".utf8)) == nil)
        #expect(FormField.value(of: "payload", in: Array("payload=".utf8)) == [])
    }
}
