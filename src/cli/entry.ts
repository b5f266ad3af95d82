import { cli } from "./main.ts";

await cli(process.argv.slice(2));
