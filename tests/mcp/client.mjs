// Drives the service's /mcp with the official TypeScript MCP SDK's client, as an agent would: connect, list the
// tools, call both, then two bad calls. Prints what it saw as one line of JSON for tests/serve/test_mcp.py.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, apiKey] = process.argv.slice(2);
const headers = apiKey ? { "X-API-Key": apiKey } : {};
const client = new Client({ name: "capitals-qa-tests", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));

async function refused(call) {
  try {
    await call();
    return null;
  } catch (error) {
    return { code: error.code, message: error.message };
  }
}

const seen = { server: client.getServerVersion(), protocol: client.transport.protocolVersion ?? null };
seen.tools = (await client.listTools()).tools;
seen.answer = await client.callTool({ name: "answer_question", arguments: { query: "What is the capital of Italy?" } });
seen.search = await client.callTool({
  name: "search_documents",
  arguments: { query: "capital of Italy", params: { top_k: 3, filters: { name: ["Italy"] } } },
});
seen.unknownTool = await refused(() => client.callTool({ name: "no_such_tool", arguments: {} }));
seen.overBound = await refused(() =>
  client.callTool({ name: "answer_question", arguments: { query: "What is the capital of Italy?", params: { top_k: 100000 } } }),
);
await client.close();
console.log(JSON.stringify(seen));
