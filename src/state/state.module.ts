import { Module } from '@nestjs/common';
import { BrokerModule } from '../broker/broker.module';
import { StoreModule } from '../store/store.module';
import { ShadowRequests } from './shadow-requests';
import { StateController } from './state.controller';
import { StateService } from './state.service';

/** Client state documents (API.md section 6): HTTP routes, and the shadow topics on the embedded broker. */
@Module({
  imports: [StoreModule, BrokerModule],
  controllers: [StateController],
  providers: [StateService, ShadowRequests],
  exports: [StateService],
})
export class StateModule {}
