import { Module } from '@nestjs/common';
import { BanExpiry } from './ban-expiry';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  controllers: [UsersController],
  providers: [UsersService, BanExpiry],
  exports: [UsersService],
})
export class UsersModule {}
