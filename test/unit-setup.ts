import { Logger } from '@nestjs/common';

// Unit tests build services without an app: keep Nest's default console logger quiet.
Logger.overrideLogger(false);
