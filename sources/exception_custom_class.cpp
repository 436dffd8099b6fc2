#include <iostream>
#include <exception>
#include <string>

class InsufficientFunds : public std::exception {
public:
    InsufficientFunds(int requested, int available)
        : message_("requested " + std::to_string(requested) + " but only " +
                   std::to_string(available) + " available") {}
    const char* what() const noexcept override { return message_.c_str(); }

private:
    std::string message_;
};

int withdraw(int balance, int amount) {
    if (amount > balance) {
        throw InsufficientFunds(amount, balance);
    }
    return balance - amount;
}

int main() {
    int balance = 100;
    const int requests[] = {40, 80, 25};
    for (int amount : requests) {
        try {
            balance = withdraw(balance, amount);
            std::cout << "Withdrew " << amount << ", balance " << balance << std::endl;
        } catch (const std::exception& e) {
            std::cout << "Failed: " << e.what() << std::endl;
        }
    }
    return 0;
}
