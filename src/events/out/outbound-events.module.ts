import { Global, Module } from '@nestjs/common';
import { BrokerModule } from '../../broker/broker.module';
import { StateChangeListener } from '../../state/state-changed';
import { OutboundEvents } from './outbound-events';
import { OutboundStateListener } from './outbound-state.listener';

/**
 * Outbound events (API.md section 7). Global: the features that have something to tell
 * (registration, users, publishing, presence) inject OutboundEvents; the state module picks up
 * the StateChangeListener.
 */
@Global()
@Module({
  imports: [BrokerModule],
  providers: [OutboundEvents, { provide: StateChangeListener, useClass: OutboundStateListener }],
  exports: [OutboundEvents, StateChangeListener],
})
export class OutboundEventsModule {}
