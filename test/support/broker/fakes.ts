// The shared in-memory store fakes.
export { InMemoryChannelRepository, InMemoryClientRepository } from '../../../src/testing/fakes';
