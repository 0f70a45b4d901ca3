// A night at the bedside as the phone app lives it, through a client generated from the OpenAPI
// document alone (lindra.ts, made by openapi-typescript in the test run) and compiled with
// `tsc --strict`. Run by tests/contract/test_generated_clients.py against a real `lindra serve`:
//   node out/night.js stage.json
// stage.json names the server, the nurse's login, her visit and case, and the push stub to read.
// Any step that does not answer as the document says ends the night with a non-zero exit code.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import createClient from "openapi-fetch";
import type { components, paths } from "./lindra.js";

type Problem = components["schemas"]["Problem"];

interface Stage {
  baseUrl: string;
  stubUrl: string;
  email: string;
  password: string;
  visitId: string;
  caseId: string;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

const stage = JSON.parse(readFileSync(process.argv[2] ?? "stage.json", "utf8")) as Stage;
const pushToken = `contract-night-${randomUUID()}`;
const steps: string[] = [];

function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`not as documented: ${what}`);
}

function ok<T>(step: string, answer: Answer<T>): T {
  if (answer.data === undefined) {
    throw new Error(`${step}: ${answer.response.status} ${JSON.stringify(answer.error)}`);
  }
  steps.push(`${step}: ${answer.response.status}`);
  return answer.data;
}

function key(): { "Idempotency-Key": string } {
  return { "Idempotency-Key": randomUUID() };
}

function minutesFromNow(minutes: number): string {
  return new Date(Date.now() + minutes * 60_000).toISOString();
}

// The push the phone would get: read from the FCM stub the server sends through.
async function pushFor(alertId: string): Promise<string> {
  for (let attempt = 0; attempt < 150; attempt++) {
    const recorded = (await (await fetch(`${stage.stubUrl}/_stub/requests`)).json()) as Array<{
      body: { message?: { token?: string; data?: Record<string, string> } } | null;
    }>;
    for (const request of recorded) {
      const message = request.body?.message;
      if (message?.token === pushToken && message.data?.alert_id === alertId && message.data.notification_id) {
        return message.data.notification_id;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("no push reached the phone within 30 s");
}

async function night(): Promise<Record<string, unknown>> {
  const anonymous = createClient<paths>({ baseUrl: stage.baseUrl });
  const login = ok(
    "login",
    await anonymous.POST("/auth/login", {
      body: {
        email: stage.email,
        password: stage.password,
        device: { platform: "android", app_version: "contract-night", push_token: pushToken },
      },
    }),
  );
  const api = createClient<paths>({
    baseUrl: stage.baseUrl,
    headers: { Authorization: `Bearer ${login.access_token}` },
  });

  const shift = await api.GET("/mobile/v1/my-shift", { params: { query: { shift: "current" } } });
  const mine = ok("getMyShift", shift);
  const etag = shift.response.headers.get("ETag");
  expect(etag !== null, "my shift carries an ETag");
  expect(
    mine.visits.some((visit) => visit.id === stage.visitId),
    "my visit is in my shift",
  );
  const again = await api.GET("/mobile/v1/my-shift", {
    params: { query: { shift: "current" }, header: { "If-None-Match": etag } },
  });
  expect(again.response.status === 304, `an unchanged shift answers 304, not ${again.response.status}`);
  steps.push("getMyShift If-None-Match: 304");

  const visit = { path: { visit_id: stage.visitId }, header: key() };
  const arrived = ok(
    "checkIn",
    await api.POST("/mobile/v1/visits/{visit_id}/check-in", {
      params: visit,
      body: { device_time: minutesFromNow(0), position: { lat: 55.6935, lon: 12.5504 } },
    }),
  );
  expect(arrived.checked_in_at !== null, "check-in is recorded");

  const scores = ok(
    "recordScores",
    await api.POST("/mobile/v1/visits/{visit_id}/scores", {
      params: { path: { visit_id: stage.visitId }, header: key() },
      body: { instrument: "ESAS-r", scores: { pain: 9, anxiety: 6, wellbeing: 7 }, recorded_at: minutesFromNow(0) },
    }),
  );

  const raised = ok(
    "raiseAlert",
    await api.POST("/mobile/v1/alerts", {
      params: { header: key() },
      body: {
        client_id: randomUUID(),
        case_id: stage.caseId,
        reason: "pain",
        severity: "critical",
        note: "Smerter 9/10 trods ekstra dosis.",
        raised_at: minutesFromNow(0),
      },
    }),
  );

  const notificationId = await pushFor(raised.id);
  const receipt = ok(
    "confirmPushReceived",
    await api.POST("/mobile/v1/notifications/{notification_id}/received", {
      params: { path: { notification_id: notificationId }, header: key() },
    }),
  );
  expect(receipt.notification_id === notificationId, "the receipt is for my push");

  const batch = {
    operations: [
      {
        client_op_id: `night-${randomUUID()}`,
        type: "note",
        device_time: minutesFromNow(1),
        visit_id: stage.visitId,
        body: { text: "Morfin givet, uro aftaget. Datter til stede.", interventions: ["Mundpleje"] },
      },
      {
        client_op_id: `night-${randomUUID()}`,
        type: "check_out",
        device_time: minutesFromNow(2),
        visit_id: stage.visitId,
        body: {},
      },
    ],
  };
  const synced = ok("syncBatch", await api.POST("/mobile/v1/sync", { body: batch }));
  expect(
    synced.results.every((result) => result.outcome === "applied" && !result.replayed),
    `every offline operation applied: ${JSON.stringify(synced.results)}`,
  );
  const resent = ok("syncBatch again", await api.POST("/mobile/v1/sync", { body: batch }));
  expect(
    resent.results.every((result) => result.replayed),
    "a resent batch is answered from the first time",
  );

  const taken = ok(
    "actOnAlert acknowledge",
    await api.POST("/mobile/v1/alerts/{alert_id}/{action}", {
      params: { path: { alert_id: raised.id, action: "acknowledge" }, header: key() },
    }),
  );
  expect(taken.status === "acknowledged", `an acknowledged alert says so, not ${taken.status}`);

  // The phone's API has no resolve yet: the board's route, through the same client and login.
  const resolved = ok(
    "resolveAlertFromBoard",
    await api.POST("/alerts/{alert_id}/resolve", {
      params: { path: { alert_id: raised.id }, header: key() },
      body: { outcome: "managed_at_home", note: "Smerter lindret, blev hjemme." },
    }),
  );
  expect(resolved.status === "resolved", `a resolved alert says so, not ${resolved.status}`);

  // A refusal comes back as the documented problem, typed as such.
  const missing = await api.POST("/mobile/v1/visits/{visit_id}/check-in", {
    params: { path: { visit_id: randomUUID() }, header: key() },
    body: { device_time: minutesFromNow(0) },
  });
  const problem: Problem | undefined = missing.error;
  const documented: Problem extends NonNullable<typeof missing.error> ? true : false = true;
  expect(
    documented && missing.response.status === 404 && problem?.status === 404 && typeof problem.title === "string",
    `an unknown visit is a 404 problem: ${JSON.stringify(problem)}`,
  );
  expect(
    missing.response.headers.get("content-type") === "application/problem+json",
    "problems are application/problem+json",
  );
  steps.push("checkIn unknown visit: 404 problem");

  return { steps, alertId: raised.id, notificationId, scoresId: scores.id, flags: scores.flags };
}

night().then(
  (summary) => console.log(JSON.stringify(summary)),
  (error: unknown) => {
    console.error(`steps done: ${steps.join("; ")}`);
    console.error(error);
    process.exit(1);
  },
);
