import { Injectable, type PipeTransform } from '@nestjs/common';
import { isClientId } from '../common/ids';
import { ProblemCode, ProblemException } from '../common/problem/problem';

/** A client id in a path: anything that can't be one is a client nobody registered (404), never a topic. */
@Injectable()
export class ClientIdParamPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!isClientId(value)) {
      throw ProblemException.notFound(ProblemCode.USER_NOT_FOUND, 'No client has this id.');
    }
    return value;
  }
}
