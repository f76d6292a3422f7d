/**
 * The property-based tests of test/reliability/properties.test.ts with many more runs per property.
 */
process.env.CP_PROPERTY_RUNS ??= '4000';
await import('../reliability/properties.test.js');
