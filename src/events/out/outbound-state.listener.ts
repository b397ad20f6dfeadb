import { Injectable } from '@nestjs/common';
import { type ReportedStateChanged, StateChangeListener } from '../../state/state-changed';
import { OutboundEvents } from './outbound-events';

/** `client.state` `{version, reported}`: a client changed its reported state. */
@Injectable()
export class OutboundStateListener extends StateChangeListener {
  constructor(private readonly events: OutboundEvents) {
    super();
  }

  reportedChanged(event: ReportedStateChanged): void {
    this.events.emit('client.state', event.clientId, { version: event.version, reported: event.reported });
  }
}
