import { Injectable, type PipeTransform } from '@nestjs/common';
import { UserNotFoundError } from '../domain/errors';
import { isClientId } from '../domain/ids';

/** A client id in a path: anything that can't be one is a client nobody registered (404), never a topic. */
@Injectable()
export class ClientIdParamPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!isClientId(value)) {
      throw new UserNotFoundError('(invalid id)');
    }
    return value;
  }
}
