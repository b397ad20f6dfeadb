// The shared in-memory store fakes.
export { InMemoryChannelRepository, InMemoryClientRepository } from '../../../../test/support/fakes';
