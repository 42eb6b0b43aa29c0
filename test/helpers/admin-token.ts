/** The admin token of every broker the tests and benchmarks start (a fixed test value, no secret). */
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
