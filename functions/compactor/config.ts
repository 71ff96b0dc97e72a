/** The compactor shares the lake writer's environment schema (same bucket, same grace). */
export { type LakeConfig, lakeConfig, parseLakeConfig } from '../lake-writer/config.js';
